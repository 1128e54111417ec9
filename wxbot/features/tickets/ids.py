"""Ticket ids: ``YYMMDD-XXXX``, drawn at intake, typed back by support and followers."""
from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, tzinfo

# No 0/O, 1/I/L, U: nothing that is misread when said aloud or typed from a screenshot.
ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_RE = re.compile(r"^\d{6}-[" + ID_ALPHABET + r"]{4,6}$")


def new_ticket_id(now: float | None, zone: tzinfo, length: int = 4) -> str:
    """``YYMMDD-XXXX`` (the date in bot.yaml's ``timezone``, which support and followers see, + random
    base-30), e.g. ``250615-K7M3``; collisions are checked."""
    day = datetime.fromtimestamp(time.time() if now is None else now, zone).strftime("%y%m%d")
    return day + "-" + random_part(length)


def random_part(length: int) -> str:
    """``length`` characters of ``ID_ALPHABET``, drawn at random."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def normalize_id(text: str) -> str:
    """What support typed -> the canonical id (upper case, no spaces, full-width dash accepted)."""
    return text.strip().upper().replace(" ", "").replace("－", "-").replace("—", "-")


def looks_like_id(text: str) -> bool:
    return bool(ID_RE.match(normalize_id(text)))

