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

# The compiler's (matcher.py's) refusals, in the admins' words: (its English, as a regex) -> Chinese.
# A message not listed stays as the compiler wrote it.
_COMPILER_WORDS = [
    (r"entries: duplicate id (?P<id>'[^']*')", r"entries: id \g<id> 重复了"),
    (r"topics: unknown entry id (?P<id>'[^']*')", r"topics: 没有 id 为 \g<id> 的条目"),
    (r"synonyms/glosses: (?P<v>.+) is a variant of both (?P<a>.+) and (?P<b>.+)$",
     r"synonyms/glosses: \g<v> 同时是 \g<a> 和 \g<b> 的变体"),
    (r"entry (?P<id>\S+): exact phrase (?P<p>.+) is empty after normalising",
     r"条目 \g<id>：全匹配规则 \g<p> 规范化后是空的"),
    (r"entry (?P<id>\S+): exact phrase (?P<p>.+) already belongs to (?P<other>\S+)$",
     r"条目 \g<id>：全匹配规则 \g<p> 已经属于条目 \g<other>"),
    (r"file is missing or empty", "文件不存在或是空的"),
    (r"top level must be a mapping with 'entries'", "最外层必须是含有 entries: 的映射"),
]


def problem_text(line: str) -> str:
    """``line`` (a compile error of the FAQ, possibly after a path) with the compiler's words in Chinese."""
    for english, chinese in _COMPILER_WORDS:
        line, n = re.subn(english, chinese, line, count=1)
        if n:
            break
    return line


def lint(raw: Any, options: MatchOptions | None = None) -> list[str]:
    """Every problem in a parsed ``faq.yaml`` (empty when it is good), one line each."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return [problem_text("top level must be a mapping with 'entries'")]
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
        problems.append(problem_text(str(exc)))
    return problems
