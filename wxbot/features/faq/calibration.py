"""The matcher's best score mapped to an estimated probability that its best entry is right, fitted
on labelled scores (``bench/faq_calibrate.py``: k-fold over the FAQ's examples plus the tune set),
and the thresholds that follow from it: answer at or above the lowest score whose estimate reaches
the answer precision, ask "which one did you mean?" down to the lowest score whose estimate reaches
the ask precision, fall back below.

The fit is isotonic (scikit-learn's ``IsotonicRegression``, increasing): a higher score never
estimates a lower probability, whatever the data's noise. Fitting is offline (the bench writes the
thresholds into bot.yaml), so scikit-learn is a test extra (``pip install -e '.[test]'``); the bot
itself only reads the thresholds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Seed FAQ with the classifier (bench/faq_calibrate.py): 95% -> threshold 3.14 (the estimate is 0.958 from
# 3.14 to 5.5, 0.99 from 6); 97% -> 6.2, which on the blind held-out set (without the classifier) left
# 200/294 right against 261 at 2.5, most of the rest asked: too dear.
ANSWER_PRECISION = 0.95
ASK_PRECISION = 0.75  # 50% (1.54 on the seed FAQ) asked about off-topic words ("汇率是多少", "收到")


@dataclass(frozen=True, slots=True)
class Calibration:
    """A non-decreasing step function: ``scores[i]`` (sorted) -> estimated probability ``estimates[i]``."""

    scores: tuple[float, ...]
    estimates: tuple[float, ...]

    def probability(self, score: float) -> float:
        """The estimate of the highest fitted score <= ``score`` (the lowest estimate below them all)."""
        from bisect import bisect_right

        if not self.scores:
            return 0.0
        k = bisect_right(self.scores, score) - 1
        return self.estimates[max(k, 0)]

    def lowest(self, precision: float) -> float | None:
        """The lowest fitted score whose estimate is >= ``precision``, or None when none reaches it."""
        return next((s for s, p in zip(self.scores, self.estimates) if p >= precision), None)


def fit(scores: Sequence[float], rights: Sequence[bool]) -> Calibration:
    """Isotonic fit of ``rights`` (the best entry was the right one; an off-topic message is never
    right) on ``scores``."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(rights, dtype=np.float64)
    if not len(x):
        return Calibration((), ())
    est = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y)
    grid = np.unique(x)
    return Calibration(tuple(grid.tolist()), tuple(est.predict(grid).tolist()))


def thresholds(cal: Calibration, answer: float = ANSWER_PRECISION,
               ask: float = ASK_PRECISION) -> tuple[float | None, float | None]:
    """(answer threshold, ask threshold) from ``cal``; the ask threshold is never above the answer's."""
    hi = cal.lowest(answer)
    lo = cal.lowest(ask)
    if hi is not None and lo is not None:
        lo = min(lo, hi)
    return hi, lo
