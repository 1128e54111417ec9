"""Toneless pinyin per character, from pypinyin's own data, so IME homophones compare equal.

``pypinyin.lazy_pinyin`` segments phrases in pure Python (~4 µs a character: ~800 µs on a 200-character
message), far too slow for the webhook. Here one ``dict`` maps each CJK character to its first
toneless reading (built once per process from ``pypinyin.pinyin_dict``, ~40 ms); a message costs one
lookup per character.

Polyphones (重 zhong/chong, 还 hai/huan, 行 xing/hang ...) take the reading the FAQ's own vocabulary
uses: ``vocabulary_table`` runs the phrase-aware ``lazy_pinyin`` once per FAQ version over the short
rule phrases and example questions and lets each polyphone's majority reading override the default.
Both the FAQ and the follower's message then read 重 the same way, which is all matching needs.
"""
from __future__ import annotations

import functools
import threading
import unicodedata

_BASE: dict[str, str] | None = None
_POLY: frozenset[str] = frozenset()
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def toneless(reading: str) -> str:
    """``lǜ`` -> ``lv``, ``zhōng`` -> ``zhong``."""
    nfd = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")
    return "".join(c for c in nfd if not unicodedata.combining(c))


def _load_pinyin_dict() -> dict[int, str]:
    """pypinyin's character table, read from its JSON file (importing the package costs ~150 ms)."""
    import importlib.util
    import json
    import os

    spec = importlib.util.find_spec("pypinyin")
    assert spec is not None and spec.submodule_search_locations
    path = os.path.join(list(spec.submodule_search_locations)[0], "pinyin_dict.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return {int(k): v for k, v in json.load(fh).items()}
    from pypinyin.pinyin_dict import pinyin_dict  # pragma: no cover - older layouts

    return pinyin_dict


def base_table() -> dict[str, str]:
    """Character -> first toneless reading, for every CJK character pypinyin knows."""
    global _BASE, _POLY
    if _BASE is None:
        with _LOCK:
            if _BASE is None:
                pinyin_dict = _load_pinyin_dict()
                table: dict[str, str] = {}
                poly: set[str] = set()
                for cp, readings in pinyin_dict.items():
                    if not (0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF):
                        continue
                    options = list(dict.fromkeys(toneless(r) for r in readings.split(",")))
                    ch = chr(cp)
                    table[ch] = options[0]
                    if len(options) > 1:
                        poly.add(ch)
                _POLY = frozenset(poly)
                _BASE = table
    return _BASE


def polyphones() -> frozenset[str]:
    base_table()
    return _POLY


def vocabulary_table(phrases, limit: int = 1500) -> dict[str, str]:
    """The base table with each polyphone of ``phrases`` read as the FAQ's vocabulary reads it.

    Only a window of two characters either side of each polyphone is segmented (the phrase context
    pypinyin uses), each distinct window once and at most ``limit`` of them, in the order given
    (rule phrases first, then examples), so even a 20,000-example FAQ loads in bounded time (~0.2 s
    at the limit); a polyphone keeps its default reading unless another one wins the vote.
    """
    base = base_table()
    poly = _POLY
    votes: dict[str, dict[str, int]] = {}
    windows: dict[str, int] = {}  # window -> offset of its polyphone
    for phrase in phrases:
        for i, ch in enumerate(phrase):
            if ch in poly:
                lo = max(0, i - 2)
                windows.setdefault(phrase[lo:i + 3], i - lo)
        if len(windows) >= limit:
            break
    if windows:
        from pypinyin import Style, lazy_pinyin

        for window, at in list(windows.items())[:limit]:
            readings = lazy_pinyin(window, style=Style.NORMAL, errors=lambda s: ["?"] * len(s))
            if len(readings) != len(window):
                continue
            r = readings[at]
            if r and r != "?":
                counts = votes.setdefault(window[at], {})
                counts[r] = counts.get(r, 0) + 1
    table = dict(base)
    for ch, counts in votes.items():
        best = max(counts.items(), key=lambda kv: (kv[1], kv[0] == base[ch]))[0]
        table[ch] = best.replace("ü", "v")
    return table


# -- pinyin typed in Latin letters ("mima", "chongzhi") ----------------------------------------

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
             "z", "c", "s", "y", "w", "")


@functools.lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin's table uses."""
    return frozenset(base_table().values())


@functools.lru_cache(maxsize=4096)
def split_latin(word: str) -> tuple[str, ...] | None:
    """``mima`` -> ("mi", "ma"); None unless the whole word is two or more pinyin syllables.

    Longest syllable first, each position's outcome remembered (linear in the word's length);
    words of 17+ letters are not tried; a word seen before is answered from a small cache.
    """
    if not (4 <= len(word) <= 16) or not word.isalpha():
        return None
    sy = syllables()

    @functools.cache
    def walk(i: int) -> tuple[str, ...] | None:
        if i == len(word):
            return ()
        for j in range(min(len(word), i + 6), i, -1):
            if word[i:j] in sy:
                rest = walk(j)
                if rest is not None:
                    return (word[i:j], *rest)
        return None

    parts = walk(0)
    return parts if parts and len(parts) >= 2 else None
