"""What support receives about a ticket: the webhook's JSON, the WeCom robot's markdown, the WeChat
text and template message. Pure functions of the ticket record and the texts (config/texts.yaml)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...router import hash_openid
from ...textnorm import clip_utf8
from .intake import category_label
from .runtime import format_time

if TYPE_CHECKING:
    from ...services import Services


def texts_of(services: "Services"):
    return services.texts.get()


def _category(services: "Services", cat: str) -> str:
    return category_label(texts_of(services), cat)


def _iso(ts: str | float | None, zone) -> str | None:
    if ts in (None, ""):
        return None
    from datetime import datetime

    return datetime.fromtimestamp(float(ts), zone).isoformat(timespec="seconds")


def _shot_json(n: int, shot: dict) -> dict:
    status = "stored" if shot.get("file") else ("unavailable" if shot.get("error") else "pending")
    out: dict[str, Any] = {"n": n, "status": status}
    if shot.get("file"):
        out.update(file=shot["file"], bytes=shot.get("bytes"), sha256=shot.get("sha256"),
                   content_type=shot.get("content_type"))
    return out


def webhook_payload(services: "Services", rec: dict, shots: dict[int, dict], event: str,
                    shot_n: int | None = None) -> dict:
    """The JSON body of the ticket webhook (documented in README: Tickets)."""
    tid = rec["id"]
    ticket = {
        "id": tid,
        "status": rec.get("status"),
        "category": rec.get("category") or "other",
        "category_label": _category(services, rec.get("category") or "other"),
        "order_no": rec.get("order_no") or None,
        "paid_at": rec.get("paid_at") or None,
        "amount": rec.get("amount") or None,
        "description": rec.get("description") or "",
        "created_at": _iso(rec.get("created_at"), services.bot.zone),
        "follower": hash_openid(rec.get("openid", ""), services.log_salt),
        "screenshots": [_shot_json(n, s) for n, s in shots.items()],
        "reply_command": f"#回复 {tid} ",
    }
    body: dict[str, Any] = {"event": event, "ticket": ticket}
    if shot_n is not None and shot_n in shots:
        body["screenshot"] = _shot_json(shot_n, shots[shot_n])
    return body


def _md_safe(text: str) -> str:
    """User text inside WeCom markdown: no tags, links or code spans of the follower's making."""
    return (text or "").replace("<", "＜").replace(">", "＞").replace("`", "'").replace("[", "［").replace("]", "］")


def ticket_vars(services: "Services", rec: dict, shots: dict[int, dict]) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "category": _category(services, rec.get("category") or "other"),
        "order_no": rec.get("order_no") or "-",
        "paid_at": rec.get("paid_at") or "-",
        "amount": rec.get("amount") or "-",
        "created": format_time(rec.get("created_at"), services.bot.zone),
        "shots": len(shots),
        "description": rec.get("description") or "-",
    }


def wecom_markdown(services: "Services", rec: dict, shots: dict[int, dict], limit: int) -> str:
    """The robot's markdown, within ``limit`` UTF-8 bytes: the description is shortened, not the facts."""
    texts = texts_of(services)
    values = ticket_vars(services, rec, shots)
    values["order_no"] = _md_safe(values["order_no"])
    values["paid_at"] = _md_safe(values["paid_at"])
    values["amount"] = _md_safe(values["amount"])
    desc = _md_safe(values["description"]).replace("\n", "\n> ")
    while True:
        content = texts.render("tickets.support.markdown", **dict(values, description=desc))
        size = len(content.encode("utf-8"))
        if size <= limit or not desc:
            return clip_utf8(content, limit)
        over = size - limit
        cut = max(1, len(desc) - over // 3 - 2)  # CJK characters are 3 bytes
        desc = desc[:cut].rstrip() + "…" if cut < len(desc) else desc[:-2] + "…"


def support_text(services: "Services", rec: dict, shots: dict[int, dict]) -> str:
    return texts_of(services).render("tickets.support.text", **ticket_vars(services, rec, shots))


def template_data(services: "Services", rec: dict, shots: dict[int, dict], fields: dict[str, str]) -> dict:
    values = ticket_vars(services, rec, shots)
    out = {}
    for name, pattern in fields.items():
        value = pattern.format_map(values)
        out[name] = {"value": value[:20]}
    return out
