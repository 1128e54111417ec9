"""Text helpers shared by every feature: the one normaliser, and clipping to WeChat's byte limits."""
from __future__ import annotations

import os
import re
import threading
import unicodedata

TEXT_LIMIT = 2048  # bytes of UTF-8 in one WeChat text reply or customer-service message

_TS_TABLE: dict[int, str] | None = None
_TS_LOCK = threading.Lock()


def _ts_table() -> dict[int, str]:
    """Traditional -> simplified, per character, from opencc-python-reimplemented's dictionary.

    ``OpenCC('t2s').convert`` costs 10-40 µs per message (phrase segmentation in pure Python); a
    ``str.translate`` table from the same data costs ~1 µs and is built once per process in ~3 ms.
    Phrase-level conversions (e.g. regional vocabulary) do not matter for keyword matching.
    """
    global _TS_TABLE
    if _TS_TABLE is None:
        with _TS_LOCK:
            if _TS_TABLE is None:
                import opencc

                path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
                table: dict[int, str] = {}
                with open(path, encoding="utf-8") as fh:
                    for line in fh:
                        src, _, dst = line.rstrip("\n").partition("\t")
                        if len(src) == 1 and dst:
                            table[ord(src)] = dst.split(" ")[0]
                _TS_TABLE = table
    return _TS_TABLE


_DROP_RE = re.compile(r"[^\w.]+|_+")
_DOT_RE = re.compile(r"(?<!\d)\.|\.(?!\d)")


_FOLD_TABLE: dict[int, int | str] | None = None


def _stable(s: str) -> bool:
    return all(unicodedata.normalize("NFKC", c) == c and not unicodedata.combining(c) for c in s)


def _fold_table() -> dict[int, int | str]:
    """What NFKC does to full-width forms (Ａ -> A, ， -> ,, the ideographic space), plus traditional ->
    simplified for the characters NFKC leaves alone: one ``translate`` that, when its result is already
    NFKC-normal (nearly every message), equals NFKC + t2s."""
    global _FOLD_TABLE
    if _FOLD_TABLE is None:
        table: dict[int, int | str] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
        table[0x3000] = 0x20
        table.update((k, v) for k, v in _ts_table().items() if _stable(chr(k)) and _stable(v))
        _FOLD_TABLE = table
    return _FOLD_TABLE


def fold(text: str) -> str:
    """NFKC + lower case + traditional -> simplified; punctuation and spaces kept.

    Full-width punctuation makes nearly every Chinese message not NFKC-normal, and ``normalize`` then
    costs ~14 µs on 200 characters; mapping the full-width forms first (``_fold_table``) leaves most
    messages normal, so the check is all that runs. Anything else takes the plain path."""
    out = text.translate(_fold_table())
    if not unicodedata.is_normalized("NFKC", out):
        out = unicodedata.normalize("NFKC", text).translate(_ts_table())
    return out.lower()


def normalise(text: str, max_chars: int = 200) -> str:
    """The form every phrase and message is compared in: folded, no punctuation or spaces."""
    text = _DROP_RE.sub("", fold(text[: max_chars * 4]))
    if "." in text:
        text = _DOT_RE.sub("", text)
    return text[:max_chars]


_RUN_RE = re.compile(r"[a-z0-9]+(?:(?<=[0-9])\.[0-9]+[a-z0-9]*)*|[^\W_a-z0-9]+")
_CLAUSE_CHARS = frozenset("，。！？；,.!?;\n…~～、")
ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def prepare(text: str, max_chars: int = 200) -> tuple[str, frozenset[int], frozenset[int]]:
    """``normalise`` plus what dropping spaces and punctuation loses, decided before it is lost.

    Returns (text, bounds, breaks). ``bounds`` are positions of the normalised text where one ASCII
    word ended and another began ("what is the password" -> whatisthepassword, bounds 4, 6, 9), so an
    ASCII keyword matches whole words only ("word" never inside "password"; a CJK character next to
    ASCII is a boundary anyway). ``breaks`` are positions where clause punctuation was, or a space
    between two CJK runs ("能开票吗 可以对公吗"), so a long message can be split into clauses.
    The text is ``normalise(text, max_chars)`` except that a ``.`` survives only inside a number.
    """
    folded = fold(text[: max_chars * 4])
    parts: list[str] = []
    bounds: list[int] = []
    breaks: list[int] = []
    n = last = 0
    prev_ascii = False
    for m in _RUN_RE.finditer(folded):
        run = m.group()
        start = m.start()
        if start > last and n:
            ascii_next = run[0] in ASCII_ALNUM
            if prev_ascii and ascii_next:
                bounds.append(n)
            gap = folded[last:start]
            if not _CLAUSE_CHARS.isdisjoint(gap) or (not prev_ascii and not ascii_next and gap.isspace()):
                breaks.append(n)
        parts.append(run)
        n += len(run)
        prev_ascii = run[-1] in ASCII_ALNUM
        last = m.end()
        if n >= max_chars:
            break
    out = "".join(parts)
    if n > max_chars:
        out = out[:max_chars]
    return out, frozenset(bounds), frozenset(breaks)


def clip_utf8(text: str, limit: int = TEXT_LIMIT) -> str:
    """Cap ``text`` at ``limit`` UTF-8 bytes on a character boundary, marking the cut with …."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: max(0, limit - 3)].decode("utf-8", "ignore") + "…"
