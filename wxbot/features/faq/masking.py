"""Masking of follower text before it is stored (the unmatched-question log, the audit log): API
keys, e-mails, phone and order numbers become «key», «email», «phone», «order»."""
from __future__ import annotations

import re

from ...textnorm import fold

_MASKS = (
    (re.compile(r"sk-[a-z0-9_\-]{4,}"), "«key»"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "«email»"),
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"), "«phone»"),
    (re.compile(r"(?<![a-z0-9])(?=[a-z0-9]*\d{6})[a-z0-9]{8,}(?![a-z0-9])"), "«order»"),
)
_MASK_DROP_RE = re.compile(r"[^\w«»]+|_+")


def mask(text: str, max_chars: int = 60) -> str:
    """Normalised text with API keys, e-mails, phone and order numbers replaced by «key» etc.

    Used for the unmatched-question log: no secret or personal number is ever stored.
    """
    text = fold(text[:2000])
    for regex, repl in _MASKS:
        text = regex.sub(repl, text)
    return _MASK_DROP_RE.sub("", text)[:max_chars]
