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
    lines = [f"normalised: {res.text}"]
    if res.kind in ("answer", "ambiguous") and res.entry is not None:
        if res.kind == "answer":
            route = f" -> route {res.entry.route}" if res.entry.route else ""
            lines.append(f"decision: answer {res.entry.id} (score {res.score:g}, threshold {threshold:g}){route}")
        else:
            lines.append(f"decision: ambiguous, asks which one: {', '.join(e.id for e, _ in res.candidates)}")
    else:
        lines.append(f"decision: {res.kind} (best score {res.score:g} < threshold {threshold:g})")
    for rank, (entry, score) in enumerate(res.ranking[: top + 1], 1):
        why = " ".join(res.reasons.get(entry.index, []))
        lines.append(f"  {rank}. {entry.id:<20} score {score:<7g} topic {entry.topic}  [{why}]")
    if not res.ranking:
        lines.append("  (no entry matched any rule)")
    return lines
