"""What a match returns: the entry ``Faq.match`` chose and how sure it was. Plain values, apart from the
matcher's compiled structures; ``matcher`` re-exports them."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    id: str
    topic: str
    question: str
    answer: str
    priority: int
    route: str | None


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome for one message: ``answer``, ``ambiguous``, ``greeting``, ``none`` or ``empty``."""

    kind: str
    text: str  # the normalised message
    entry: Entry | None = None
    score: float = 0.0
    candidates: list[tuple[Entry, float]] = field(default_factory=list)  # best first
    reasons: dict[int, list[str]] = field(default_factory=dict)  # entry index -> what matched (explain)
    ranking: list[tuple[Entry, float]] = field(default_factory=list)  # every scored entry (explain)
    unsure: bool = False  # "ambiguous" from the ask band (below the threshold), not a close call


    @property
    def answered(self) -> bool:
        return self.kind == "answer"
