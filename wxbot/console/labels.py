"""What the console says about delivery states, in plain Chinese."""
from __future__ import annotations

from datetime import tzinfo

from ..texts import show_time


def when(ts: float | str | None, zone: tzinfo) -> str:
    """A time in bot.yaml's ``timezone`` (the one zone everywhere a person reads), saying which."""
    return show_time(ts, zone)


def job_label(job: str) -> str:
    kind = job.rstrip("0123456789")
    n = job[len(kind):]
    return {"new": "新工单", "shot": f"补充的第 {n} 张截图", "reply": f"第 {n} 条回复", "close": "关闭通知"}.get(kind, job)


def channel_label(channel: str) -> str:
    name, _, arg = channel.partition(":")
    if name == "fetch":
        return f"下载第 {arg} 张截图"
    if name == "wecom_img":
        return f"企业微信群：第 {arg} 张截图"
    return {"webhook": "工单接口（Webhook）", "wecom": "企业微信群机器人", "support": "客服的微信",
            "follower": "发给用户（客服消息）"}.get(name, channel)


def state_label(st: dict, zone: tzinfo) -> str:
    s = st.get("s")
    attempts = int(st.get("a") or 0)
    if s == "done":
        return "已送达"
    if s == "deferred":
        return "对方超过 48 小时没发消息，等对方下次发消息时送达"
    if s == "skipped":
        return "已跳过"
    if s == "dead":
        return f"发送失败，已放弃（试了 {attempts} 次）；可点“重新发送”"
    if attempts:
        return f"第 {attempts} 次发送失败，{when(st.get('n'), zone)} 再试"
    return "等待发送"
