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
def fold(text: str) -> str:
    """NFKC + lower case + traditional -> simplified; punctuation and spaces kept."""
    return unicodedata.normalize("NFKC", text).lower().translate(_ts_table())


def normalise(text: str, max_chars: int = 200) -> str:
    """The form every phrase and message is compared in: folded, no punctuation or spaces."""
    text = _DROP_RE.sub("", fold(text[: max_chars * 4]))
    if "." in text:
        text = _DOT_RE.sub("", text)
    return text[:max_chars]




def clip_utf8(text: str, limit: int = TEXT_LIMIT) -> str:
    """Cap ``text`` at ``limit`` UTF-8 bytes on a character boundary, marking the cut with …."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: max(0, limit - 3)].decode("utf-8", "ignore") + "…"
