"""Everyday Chinese words and how common they are, for the homophone guard (phrases.Homophones).

An IME homophone (续废 for 续费) is corrected to the FAQ's word; but many runs that sound like a FAQ
word are everyday words of their own: 不会 is not 不回, 同时 not 同事, 有点 not 优点, 提示 not 梯示.
The frequencies come from jieba's dictionary (``jieba/dict.txt``: 349,000 words counted over a large
corpus); only the file is read, jieba's segmenter is never imported. Words of 2-4 characters seen at
least ``MIN_COUNT`` times are kept, once per process (~70,000 words in one string and one array: ~1 MB,
~0.2 s; the two-character ones as a set: ~2.5 MB), and ``same_sound`` picks the few that sound like a FAQ's words with one ``str.translate``.
"""
from __future__ import annotations

import threading
from array import array
from importlib import resources

MIN_COUNT = 20  # rarer words than this are no evidence that a run is meant as written
PAIR_COUNT = 100  # a two-character word at least this common binds its characters (``pairs``)

_WORDS: tuple[str, array] | None = None  # "\n"-joined words, their counts
_PAIRS: frozenset[str] | None = None
_LOCK = threading.Lock()


def _words() -> tuple[str, array]:
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
                _WORDS = ("\n".join(words), counts)
    return _WORDS


def pairs() -> frozenset[str]:
    """The everyday two-character words (~24,000: 提示, 同事, 其实): a character that forms one with its
    neighbour outside a run belongs to that word, not to the run (今天提示 has no 天梯)."""
    global _PAIRS
    if _PAIRS is None:
        joined, counts = _words()
        found = frozenset(w for w, n in zip(joined.split("\n"), counts) if len(w) == 2 and n >= PAIR_COUNT)
        with _LOCK:
            _PAIRS = found
    return _PAIRS


def same_sound(spellings: set[str], spell: dict) -> dict[str, int]:
    """Everyday word -> its count, for the words whose spelling (``text.translate(spell)``, one code
    per character) is one of ``spellings``."""
    if not spellings:
        return {}
    joined, counts = _words()
    table = type(spell)(spell)
    table[ord("\n")] = "\n"
    spelled = joined.translate(table).split("\n")  # one code per character: aligned with the words
    words = joined.split("\n")
    return {words[i]: counts[i] for i, s in enumerate(spelled) if s in spellings}
