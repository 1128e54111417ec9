"""Every Redis key wxbot uses, in one place: ``wxbot:<area>:<id>``."""
from __future__ import annotations

PREFIX = "wxbot"


def dedupe(dedupe_id: str) -> str:
    return f"{PREFIX}:dedupe:{dedupe_id}"


def msg_counter(openid: str) -> str:
    return f"{PREFIX}:rl:msg:{openid}"


def feature_counter(feature: str, openid: str) -> str:
    return f"{PREFIX}:rl:{feature}:{openid}"


def dialog(openid: str) -> str:
    return f"{PREFIX}:dialog:{openid}"


def pending_replies(openid: str) -> str:
    """Support replies that WeChat refused to deliver (48-hour window); shown on the next message."""
    return f"{PREFIX}:pending:{openid}"


def follower_keys(openid: str) -> list[str]:
    """Conversational state of one follower, deleted on unsubscribe (support records are kept)."""
    return [msg_counter(openid), dialog(openid), pending_replies(openid)]
