"""Everyday Chinese words and how common they are, for the homophone guard (phrases.Homophones).

An IME homophone (续废 for 续费) is corrected to the FAQ's word; but many runs that sound like a FAQ
word are everyday words of their own: 不会 is not 不回, 同时 not 同事, 有点 not 优点, 提示 not 梯示.
The frequencies come from jieba's dictionary (``jieba/dict.txt``: 349,000 words counted over a large
corpus); only the file is read, jieba's segmenter is never imported. Words of 2-4 characters seen at
least ``MIN_COUNT`` times are kept, once per process (~70,000 words in one string and one array: ~1 MB,
~0.2 s; the two-character ones as a set: ~2.5 MB); ``same_sound`` picks the few that sound like a
FAQ's words, ``containing`` those that hold a synonym.
"""
from __future__ import annotations

import threading
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from importlib import resources

import ahocorasick

MIN_COUNT = 20  # rarer words than this are no evidence that a run is meant as written
PAIR_COUNT = 100  # a two-character word at least this common binds its characters (``pairs``)

_WORDS: tuple[str, array, array] | None = None  # "\n"-joined words, their counts, where each starts
_PAIRS: frozenset[str] | None = None
_LOCK = threading.Lock()


def _words() -> tuple[str, array, array]:
    global _WORDS
    if _WORDS is None:
        with _LOCK:
            if _WORDS is None:
                words: list[str] = []
                counts = array("l")
                with (resources.files("jieba") / "dict.txt").open(encoding="utf-8") as fh:
                    for line in fh:
                        word, count, _ = line.split(" ", 2)
                        if 2 <= len(word) <= 4 and int(count) >= MIN_COUNT:
                            words.append(word)
                            counts.append(int(count))
                starts = array("l", [0])
                for w in words[:-1]:
                    starts.append(starts[-1] + len(w) + 1)
                _WORDS = ("\n".join(words), counts, starts)
    return _WORDS


def pairs() -> frozenset[str]:
    """The everyday two-character words (~24,000: 提示, 同事, 其实): a character that forms one with its
    neighbour outside a run belongs to that word, not to the run (今天提示 has no 天梯)."""
    global _PAIRS
    if _PAIRS is None:
        joined, counts, _ = _words()
        with _LOCK:
            if _PAIRS is None:
                _PAIRS = frozenset(w for w, n in zip(joined.split("\n"), counts) if len(w) == 2 and n >= PAIR_COUNT)
    return _PAIRS


def _occurrences(haystack: str, needles: set[str]) -> Iterator[tuple[int, int, int]]:
    """(word index, start, end) of every occurrence of a needle in ``haystack``, the word list or its
    spelling (one code per character: the same offsets), by one Aho-Corasick pass."""
    _, _, starts = _words()
    auto = ahocorasick.Automaton()
    for needle in needles:
        auto.add_word(needle, len(needle))
    auto.make_automaton()
    for last, size in auto.iter(haystack):
        start = last + 1 - size
        yield bisect_right(starts, start) - 1, start, last + 1


def _word(i: int) -> str:
    joined, _, starts = _words()
    return joined[starts[i]:starts[i + 1] - 1] if i + 1 < len(starts) else joined[starts[i]:]


def same_sound(spellings: set[str], spell: dict) -> dict[str, int]:
    """Everyday word -> its count, for the words whose spelling (``text.translate(spell)``, one code
    per character) is one of ``spellings``: one ``translate`` of all the words and one automaton pass
    over it, whole words only, so no list of 70,000 strings is made for a FAQ version."""
    if not spellings:
        return {}
    joined, counts, starts = _words()
    table = type(spell)(spell)
    table[ord("\n")] = "\n"
    spelled = joined.translate(table)
    out: dict[str, int] = {}
    for i, start, end in _occurrences(spelled, spellings):
        if start == starts[i] and (end == len(spelled) or spelled[end] == "\n"):
            out[joined[start:end]] = counts[i]
    return out


def containing(phrases: set[str], min_count: int = PAIR_COUNT) -> set[str]:
    """The everyday words at least ``min_count`` common that contain one of ``phrases`` and are longer
    (手续费 for 续费): a phrase inside one of them is part of another word."""
    if not phrases:
        return set()
    joined, counts, _ = _words()
    return {w for i, start, end in _occurrences(joined, phrases)
            if counts[i] >= min_count and len(w := _word(i)) > end - start}


def common(min_count: int) -> list[tuple[str, int]]:
    """The everyday words (2-4 characters) seen at least ``min_count`` times, with their counts."""
    joined, counts, _ = _words()
    return [(w, n) for w, n in zip(joined.split("\n"), counts) if n >= min_count]
