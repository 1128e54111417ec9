"""Every problem in a parsed faq.yaml, one line each: what ``wxbot faq lint`` and ``wxbot faq match``
report instead of a traceback.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from ...settings import error_text
from .matcher import Faq
from .spec import FaqSpec, MatchOptions


def lint(raw: Any, options: MatchOptions | None = None) -> list[str]:
    """Every problem in a parsed ``faq.yaml`` (empty when it is good), one line each."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return ["最外层必须是含有 entries: 的映射"]
    try:
        spec = FaqSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
                entries = raw.get("entries") or []
                ident = entries[loc[1]].get("id", loc[1]) if isinstance(entries[loc[1]], dict) else loc[1]
                loc[1] = ident
            problems.append(f"{'.'.join(str(p) for p in loc)}: {error_text(err)}")
        return problems
    ids: dict[str, int] = {}
    for e in spec.entries:
        ids[e.id] = ids.get(e.id, 0) + 1
    problems += [f"entries: id {i!r} 重复了" for i, n in ids.items() if n > 1]
    if problems:
        return problems
    try:
        Faq(spec, options or MatchOptions())
    except (ValueError, re.error) as exc:
        problems.append(str(exc))
    return problems
