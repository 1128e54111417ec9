"""What of a long message the example retrieval scores: its question, with the context just before it.

The question of a long message comes last and often names its topic only in the sentence before
("昨天开始一直报错。这种情况怎么排查？"), so a question clause is scored with the ``cap`` units that end
where it ends; scoring the whole message would cost more and dilute the match with the rest of the story.
"""
from __future__ import annotations

import re

BREAKS = ("|", "\n")  # units that are no text: a noise word, a clause break


def question_windows(units: list[str], cue: re.Pattern[str] | None, cap: int) -> list[list[str]]:
    """The windows of ``units`` (more than ``cap`` of them) to score: for each of the last two clauses
    with a question ``cue`` (else the message's end), the ``cap`` units that end where it ends; an
    earlier question inside the last one's window is scored with it, a window said twice once, and a
    window of fewer than 3 units not at all. ``"\\n"`` (a clause break) is a unit of its own."""
    ends: list[int] = []  # where each clause that asks something ends, in units
    start = 0
    for i, u in enumerate([*units, "\n"]):
        if u == "\n":
            clause = units[start:i]
            if cue is not None and any(x not in BREAKS for x in clause) and cue.search("".join(clause)):
                ends.append(i)
            start = i + 1
    picks = ends[-2:] or [len(units)]
    if len(picks) == 2 and picks[0] > picks[1] - cap:
        del picks[0]
    windows: list[list[str]] = []
    for end in picks:
        window = units[max(0, end - cap):end]
        if len(window) >= 3 and window not in windows:
            windows.append(window)
    return windows
