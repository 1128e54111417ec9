"""Followers' questions as admins look at them, in the CLI and the console alike: what the FAQ did not
answer (``wxbot faq unmatched``: most asked first, each with the current FAQ's best guess, leaving out
what the FAQ now answers), and how one message is matched (``wxbot faq match``)."""
from __future__ import annotations

from dataclasses import dataclass

from .store import Unmatched


@dataclass(frozen=True)
class OpenQuestion:
    asked: Unmatched
    guess: str | None  # the best-scoring entry's id, below the threshold (or ambiguous)
    score: float
    now: str | None  # the entry that answers it now (only listed with ``show_all``)


def open_questions(knowledge, limit: int, show_all: bool = False) -> tuple[list[OpenQuestion], int]:
    """(up to ``limit`` questions, how many were left out because the current FAQ answers them)."""
    faq = knowledge.get()
    shown: list[OpenQuestion] = []
    hidden = 0
    for row in knowledge.unmatched.rows(limit * 4 if not show_all else limit):
        res = faq.match(row.text)
        answered = res.entry.id if res.kind == "answer" and res.entry else None
        if answered and not show_all:
            hidden += 1
            continue
        if len(shown) >= limit:
            break
        top = res.candidates[0] if res.candidates else None
        shown.append(OpenQuestion(row, top[0].id if top else None, top[1] if top else 0.0, answered))
    return shown, hidden


def explain(faq, text: str, threshold: float, top: int = 3) -> list[str]:
    """How ``text`` is matched, line by line: the normalised text, the decision, the scored entries with
    the rules and examples that scored (what ``wxbot faq match`` prints)."""
    res = faq.match(text, explain=True)
    lines = [f"规范化后：{res.text}"]
    if res.kind in ("answer", "ambiguous") and res.entry is not None:
        if res.kind == "answer":
            route = (f"，转给{ROUTE_WORDS.get(res.entry.route, res.entry.route)}（route: {res.entry.route}）"
                     if res.entry.route else "")
            lines.append(f"结果：回答 {res.entry.id}（得分 {res.score:g}，门槛 {threshold:g}）{route}")
        else:
            lines.append(f"结果：不够确定，反问粉丝想问哪一个：{', '.join(e.id for e, _ in res.candidates)}")
    else:
        lines.append(f"结果：{KIND_WORDS.get(res.kind, res.kind)}（最高得分 {res.score:g} < 门槛 {threshold:g}）")
    for rank, (entry, score) in enumerate(res.ranking[: top + 1], 1):
        why = " ".join(_reason(r) for r in res.reasons.get(entry.index, []))
        lines.append(f"  {rank}. {entry.id:<20} 得分 {score:<7g} 话题 {entry.topic}  [{why}]")
    if not res.ranking:
        lines.append("  （没有条目命中任何规则）")
    return lines


# What the matcher decided, and the features an entry's ``route:`` hands over to, in the admins' words.
KIND_WORDS = {"answer": "回答", "ambiguous": "反问是哪一个", "none": "答不上来", "greeting": "当作打招呼",
              "empty": "消息是空的"}
ROUTE_WORDS = {"password": "密码功能", "tickets": "工单登记"}
# The matcher's reasons: a keyword or /pattern/ with its weight stays as written; these name the rest.
_REASON_WORDS = {"exact:": "全匹配:", "similar:": "相似问法:"}


def _reason(reason: str) -> str:
    for english, chinese in _REASON_WORDS.items():
        if reason.startswith(english):
            return chinese + reason[len(english):]
    return reason
