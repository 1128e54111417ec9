"""Finding the FAQ's phrases in a normalised message: one Aho-Corasick pass (pyahocorasick, C) instead
of a dictionary probe at every position, whole ASCII words only.

Two users: ``Synonyms`` rewrites variants to their canonical word (leftmost-longest, like a
dictionary scan) and ``Phrases`` lists every rule phrase present, with its position, so the clauses
of a long message are attributed from one scan instead of one scan each.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

import ahocorasick

from ...textnorm import ASCII_ALNUM
from .pinyin import split_latin

Hit = tuple[int, int, str]  # (start, end, phrase)


def whole(text: str, i: int, j: int, bounds: frozenset[int]) -> bool:
    """text[i:j] does not start or end inside an ASCII word (a CJK neighbour is a boundary, and so is
    a change between letters and digits: "3.5" is a word of "gpt3.5turbo", "word" none of "password")."""
    if i > 0 and i not in bounds:
        a, b = text[i - 1], text[i]
        if a in ASCII_ALNUM and b in ASCII_ALNUM and a.isdigit() == b.isdigit():
            return False
    if j < len(text) and j not in bounds:
        a, b = text[j - 1], text[j]
        if a in ASCII_ALNUM and b in ASCII_ALNUM and a.isdigit() == b.isdigit():
            return False
    return True


def moved(positions: frozenset[int], reps: list[tuple[int, int, int]], edges: bool) -> frozenset[int]:
    """Positions after replacing text[start:end] by ``new`` characters for each (start, end, new)."""
    out: set[int] = set()
    for p in positions:
        delta = 0
        for start, end, new in reps:
            if end <= p:
                delta += new - (end - start)
            elif start < p:
                p = -1
                break
        if p >= 0:
            out.add(p + delta)
    if edges:
        delta = 0
        for start, end, new in reps:
            out.add(start + delta)
            delta += new - (end - start)
            out.add(end + delta)
    return frozenset(out)


def deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


_ASCII_RE = re.compile(r"[a-z0-9.]+")


def ascii_words(text: str, bounds: frozenset[int]) -> list[tuple[int, str]]:
    """(start, word) of every ASCII word of the normalised text, split at ``bounds``."""
    words = []
    for m in _ASCII_RE.finditer(text):
        last = m.start()
        for pos in sorted(b for b in bounds if m.start() < b < m.end()) if bounds else ():
            words.append((last, text[last:pos]))
            last = pos
        words.append((last, text[last:m.end()]))
    return words


class Fillers:
    """Words ignored around a whole-message phrase (请问…吗): ``strip`` drops a leading and a trailing
    run of them, exactly as ``re.sub("^(?:F)+|(?:F)+$", "", text)`` with the alternatives ``F``
    longest first, but without trying the trailing alternative at every position of the text."""

    def __init__(self, words: Iterable[str]):
        self.words = frozenset(w for w in words if w)
        self._lens = sorted({len(w) for w in self.words}, reverse=True)

    def strip(self, text: str) -> str:
        words, lens = self.words, self._lens
        n = len(text)
        i = 0
        while i < n:  # the leading run: at each step the longest filler (the regex's first alternative)
            for size in lens:
                if text[i:i + size] in words:
                    i += size
                    break
            else:
                break
        # the trailing run: the leftmost position from which fillers tile the rest (searched from the
        # end; a tiling cannot skip more than the longest filler)
        ends = {n}
        lowest = n
        p = n - 1
        reach = lens[0] if lens else 0
        while p >= i and p >= lowest - reach:
            for size in lens:
                if p + size in ends and text[p:p + size] in words:
                    ends.add(p)
                    lowest = p
                    break
            p -= 1
        return text[i:lowest]


class Phrases:
    """A fixed set of phrases, found in one pass: ``find`` gives every whole-word occurrence."""

    def __init__(self, phrases: Iterable[str]):
        self._auto = ahocorasick.Automaton()
        for p in phrases:
            if p:
                self._auto.add_word(p, p)
        self.empty = len(self._auto) == 0
        if not self.empty:
            self._auto.make_automaton()

    def find(self, text: str, bounds: frozenset[int] = frozenset()) -> list[Hit]:
        if self.empty or not text:
            return []
        if _ASCII_RE.search(text) is None:  # no ASCII word to cut inside: every occurrence is whole
            return [(end + 1 - len(p), end + 1, p) for end, p in self._auto.iter(text)]
        out = []
        for end, p in self._auto.iter(text):
            start = end + 1 - len(p)
            if whole(text, start, end + 1, bounds):
                out.append((start, end + 1, p))
        return out


class Synonyms:
    """Variant -> canonical word, replaced leftmost-longest on whole words (bounds and breaks moved)."""

    def __init__(self, table: dict[str, str]):
        self.table = table
        self._phrases = Phrases(table)

    def replace(self, text: str, bounds: frozenset[int], breaks: frozenset[int]):
        hits = self._phrases.find(text, bounds)
        if not hits:
            return text, bounds, breaks
        hits.sort(key=lambda h: (h[0], h[0] - h[1]))
        table = self.table
        out: list[str] = []
        reps: list[tuple[int, int, int]] = []  # (start, end, new length)
        cursor = 0
        for start, end, p in hits:
            if start < cursor:
                continue
            canon = table[p]
            out.append(text[cursor:start])
            out.append(canon)
            reps.append((start, end, len(canon)))
            cursor = end
        out.append(text[cursor:])
        return "".join(out), moved(bounds, reps, True), moved(breaks, reps, False)


_SYLLABLE_BASE = 0xE000  # private use area: never in a normalised message's spelling
_EVERYDAY_RATIO = 0.5  # an everyday run at least this common (vs the FAQ's word) is meant as written
# In Latin letters nothing was typed but the sound: an everyday word this common that sounds like a
# FAQ word is its rival (you shi: 有时, 6,917 in jieba's counts, or 优势), a rare one is not (dui gong:
# 对攻, 62, is not what a follower of this account means by it: 对公). Which of them a follower meant is
# read with a unigram model of this FAQ's own texts: jieba's two-character words that those texts use
# at least _DOMAIN_MIN times, the FAQ's words counted there too (``Homophones._segment``).
_LATIN_COMMON = 1000
_DOMAIN_CHARS = 100_000  # the seed FAQ's texts are 72,000 characters
_DOMAIN_MIN = 2
_RIVAL_MARGIN = 1.5  # a FAQ word is read over its everyday rivals only when the texts use it this much more
_FUNCTION = frozenset("的了是在有和与也都就还把被给吗呢吧啊嘛呀么")
_PARTICLES = frozenset("吗呢吧啊嘛呀么")


def distinct_sounding(synonyms: Iterable[tuple[str, list[str]]], table: dict[str, str]) -> list[str]:
    """Each canonical word and those of its variants that do not sound like it: a variant that does
    (魔发 for 魔法) is the synonym scan's, and as a homophone target would only make the canonical's
    sound ambiguous."""
    def sound(w: str) -> str:
        return " ".join(table.get(ch, "#") for ch in w)

    out: list[str] = []
    for canon, variants in synonyms:
        out.append(canon)
        out.extend(v for v in variants if sound(v) != sound(canon))
    return out


class _Spelling(dict):
    """A ``str.translate`` table that spells a character without a syllable as "#"."""

    def __missing__(self, key: int) -> str:
        return "#"


class Homophones:
    """IME homophones of the FAQ's own words corrected before anything else: a run of characters whose
    toneless pinyin equals a vocabulary word's (续废 -> 续费, 借口地址 -> 接口地址) is read as that word.

    Guards against false friends: only words of two or more CJK characters; a two-syllable word also
    needs one character in common with the run (有事 is not 优势, 忧势 is); a run that already is a
    vocabulary word stays; a character of a ``protected`` word (fillers, noise: 那个) is never
    changed; a pinyin shared by two words is ambiguous and never corrected. A run that is an everyday
    word (``lexicon``: jieba's counts) at least half as common as the FAQ's word stays (不会 is not
    不回, 同时 not 同事, 有点 not 优点); a two-character run whose shared character is a function word
    or the changed one is (other than a final particle) is no evidence (各家的 is not 假的, 我和同事 not 合同), nor is a particle at the end of a longer run (访问吗 is not 访问码);
    a changed character at the run's edge that forms an everyday word with its neighbour outside belongs
    to that word (今天提示 has no 天梯, 其实是 no 实时).
    """

    def __init__(self, words: Iterable[str], table: dict[str, str], protected: Iterable[str] = (),
                 everyday: bool = True, domain: Iterable[str] = ()):
        # Each syllable is one private-use character, so a word's spelling is as long as the word and
        # a message is spelled by one str.translate: a small automaton, and positions need no mapping.
        code = {syl: chr(_SYLLABLE_BASE + i) for i, syl in enumerate(sorted(set(table.values())))}
        self._code = code
        self._spell = _Spelling({ord(ch): code[syl] for ch, syl in table.items()})
        self._protected_words = frozenset(w for w in protected if len(w) >= 2 and all(ch in table for ch in w))
        self._protected = Phrases(self._protected_words)
        keys: dict[str, str | None] = {}
        for w in words:
            if len(w) < 2 or not all(ch in table for ch in w):
                continue
            key = w.translate(self._spell)
            keys[key] = w if keys.get(key, w) == w else None
        self._words = frozenset(w for w in keys.values() if w)
        self._everyday: frozenset[str] = frozenset()
        self._pairs: frozenset[str] = frozenset()
        counts: dict[str, int] = {}
        if everyday:
            from .lexicon import pairs, same_sound

            self._pairs = pairs()
            counts = same_sound({k for k, w in keys.items() if w}, self._spell)
            self._everyday = frozenset(
                run for run, n in counts.items()
                if run not in self._words and n >= _EVERYDAY_RATIO * counts.get(keys[run.translate(self._spell)] or "", 0))
        # For pinyin in Latin letters: the everyday words by spelling, the FAQ words' uses in the texts and
        # their everyday rivals', and the log of all counts (``_segment``'s unigram model)
        self._everyday_spelled: dict[str, tuple[float, str]] = {}
        self._rivals: dict[str, int] = {}
        self._faq_seen: dict[str, int] = {}
        self._domain_total = 0.0
        if everyday:
            self._unigrams(list(domain), counts)
        self._auto = ahocorasick.Automaton()
        for key, w in keys.items():
            if w is not None:
                self._auto.add_word(key, w)
        self.empty = len(self._auto) == 0
        if not self.empty:
            self._auto.make_automaton()

    def correct(self, text: str, bounds: frozenset[int], breaks: frozenset[int]):
        if self.empty or len(text) < 2:
            return text, bounds, breaks
        if _LATIN_RE.search(text):
            text, bounds, breaks = self._from_pinyin(text, bounds, breaks)
        found = []
        for end, w in self._auto.iter(text.translate(self._spell)):
            n = len(w)
            i = end + 1 - n
            run = text[i:i + n]
            if run == w or run in self._words or run in self._everyday or (n == 2 and not set(run) & set(w)):
                continue
            if n == 2 and any(a in _FUNCTION and (a == b or a not in _PARTICLES) for a, b in zip(run, w)):
                continue  # 家的 / 假的, 室有 / 室友: a function word is no typo, nor evidence of one
            if n > 2 and run[-1] in _PARTICLES and run[-1] != w[-1]:
                continue  # 访问吗 asks about 访问, it is no typo of 访问码
            pairs = self._pairs
            if pairs and ((i > 0 and run[0] != w[0] and text[i - 1:i + 1] in pairs)
                          or (run[-1] != w[-1] and text[i + n - 1:i + n + 1] in pairs)):
                continue  # the changed character is part of a word outside the run: 今天提示 is no 天梯
            found.append((i, i + n, w))
        if not found:
            return text, bounds, breaks
        kept = set()  # characters of a filler or noise word ("那个" is no typo of "哪个")
        for start, end, _ in self._protected.find(text):
            kept.update(range(start, end))
        found.sort(key=lambda h: (h[0], h[0] - h[1]))
        out, cursor = [], 0
        for start, end, w in found:
            if start < cursor or any(i in kept and text[i] != w[i - start] for i in range(start, end)):
                continue
            out.append(text[cursor:start])
            out.append(w)
            cursor = end
        out.append(text[cursor:])
        return "".join(out), bounds, breaks  # same length: positions do not move

    def _from_pinyin(self, text: str, bounds: frozenset[int], breaks: frozenset[int]):
        """Pinyin typed in Latin letters ("yu e zen me cha", "jiekou dizhi") read as the FAQ's words it
        spells: consecutive ASCII words that are each pinyin (a syllable, or a word of two or more),
        and in them a run of two or more syllables that spells one vocabulary word. Other letters (an
        English word, a product name) stay as written; positions after a replacement move, so the
        bounds and breaks are mapped to the new text."""
        syllables = self._code
        segments: list[list[tuple[int, int, str]]] = []  # runs of (start, end, syllable)
        for m in _LATIN_RE.finditer(text):
            start, end = m.span()
            cuts = [start, *sorted(b for b in bounds | breaks if start < b < end), end]
            current: list[tuple[int, int, str]] = []
            for a, b in zip(cuts, cuts[1:]):
                if a in breaks:  # a word never spans a clause break ("mi. ma")
                    if len(current) >= 2:
                        segments.append(current)
                    current = []
                word = text[a:b]
                parts = (word,) if word in syllables else split_latin(word)
                if not parts or any(p not in syllables for p in parts):
                    if len(current) >= 2:
                        segments.append(current)
                    current = []
                    continue
                at = a
                for p in parts:
                    current.append((at, at + len(p), p))
                    at += len(p)
            if len(current) >= 2:
                segments.append(current)
        if not segments:
            return text, bounds, breaks
        swaps: list[tuple[int, int, str]] = []  # (start, end, word) in the old text
        for seg in segments:
            spelled = "".join(syllables[p] for _, _, p in seg)
            # the likeliest reading of the run in the FAQ's words and the everyday words of its texts
            # (团队共用 is no 对公), then the FAQ's words in it, and the everyday words around them
            # when together they cover two thirds of the run
            words = self._segment(spelled)
            found = [(i, j, w) for i, j, w, faq in words if faq]
            if found and len(seg) >= 3 and sum(j - i for i, j, _w, _faq in words) >= 2 * len(seg) / 3:
                found = [(i, j, w) for i, j, w, _faq in words]
            swaps.extend((seg[i][0], seg[j - 1][1], w) for i, j, w in found)
        swaps.sort()
        if not swaps:
            return text, bounds, breaks
        out, moved, cursor, shift = [], {}, 0, 0
        for start, end, w in swaps:
            out.append(text[cursor:start])
            out.append(w)
            for pos in range(cursor, start + 1):
                moved[pos] = pos - shift
            shift += (end - start) - len(w)
            cursor = end
        out.append(text[cursor:])
        for pos in range(cursor, len(text) + 1):
            moved[pos] = pos - shift
        return ("".join(out), frozenset(moved[b] for b in bounds if b in moved),
                frozenset(moved[b] for b in breaks if b in moved))

    def _unigrams(self, domain: list[str], counts: dict[str, int]) -> None:
        """What followers of this FAQ write, for Latin pinyin: the everyday two-character words
        (jieba's) that the FAQ's own texts use at least ``_DOMAIN_MIN`` times, counted there, and the
        FAQ's words counted there too. A news corpus's commonest word of a sound is often not a
        follower's (bu dui: 部队 in jieba's counts, 不对 here; jie kou: 借口 there, 接口 here). A FAQ
        without texts of its own gets jieba's commonest words as counted there. The common everyday words
        that sound like a FAQ word (有时 / 优势) are its rivals, their uses in the texts counted together."""
        from .lexicon import common

        seen: dict[str, int] = {}
        if domain:
            # the everyday two-character words (``lexicon.pairs``) and the FAQ's words in the texts'
            # first _DOMAIN_CHARS characters: bounded time, and no table of every run they hold
            auto = ahocorasick.Automaton()
            for word in self._words:
                auto.add_word(word, word)
            auto.make_automaton()
            pairs, words, size = self._pairs, self._words, 0
            for text in domain:
                # a pair across a FAQ word's edge is no word of its own (开发票: no 开发), one inside it is (怎么买)
                across: set[int] = set()
                for end, word in auto.iter(text) if len(auto) else ():
                    seen[word] = seen.get(word, 0) + 1
                    across.update((end - len(word), end))
                for i in range(len(text) - 1):
                    if (pair := text[i:i + 2]) in pairs and pair not in words and i not in across:
                        seen[pair] = seen.get(pair, 0) + 1
                size += len(text)
                if size >= _DOMAIN_CHARS:
                    break
            # fillers and noise are gone from the FAQ's texts, not from what followers type (na ge: 那个)
            top = max(seen.values(), default=_DOMAIN_MIN)
            seen.update((w, top) for w in self._protected_words if 2 <= len(w) <= 4)
            everyday = [(w, n) for w, n in seen.items() if n >= _DOMAIN_MIN]
        else:
            everyday = common(_LATIN_COMMON)
        self._faq_seen = {w: max(seen.get(w, 0), 1) for w in self._words}
        self._domain_total = math.log(max(2, sum(n for _, n in everyday)))
        # the common everyday words that sound like a FAQ word, counted together wherever the texts hold
        # them (有时 against 优势, also inside 有时间); without texts each counts once, as often as the FAQ word
        joined = "\n".join(domain)[:_DOMAIN_CHARS]
        for run, n in counts.items():
            if n >= _LATIN_COMMON and run not in self._words:
                key = run.translate(self._spell)
                self._rivals[key] = self._rivals.get(key, 0) + (joined.count(run) if domain else 1)
        for word, n in everyday:
            key = word.translate(self._spell)
            if "#" not in key and word not in self._words and (
                    key not in self._everyday_spelled or self._everyday_spelled[key][0] < math.log(n)):
                self._everyday_spelled[key] = (math.log(n), word)

    def _segment(self, spelled: str) -> tuple[tuple[int, int, str, bool], ...]:
        """The likeliest words ``spelled`` spells, as (start, end, word, is a FAQ word): the
        segmentation with the highest product of the words' frequencies in the FAQ's texts (a
        unigram model, as jieba segments), a syllable alone rarer than any word. A FAQ word the texts
        use less than _RIVAL_MARGIN times as often as its everyday rivals together (you shi: 有时 and
        有事 against 优势) is no evidence either way.
        Greedy from the left read "na bian yi zhi" as 那 + 便宜 + 之, and "tuan dui gong yong" as
        tuan + 对公 + yong."""
        faq_at: dict[int, list[tuple[int, str]]] = {}
        for end, w in self._auto.iter(spelled):
            faq_at.setdefault(end + 1, []).append((end + 1 - len(w), w))
        table, seen, rivals, total = self._everyday_spelled, self._faq_seen, self._rivals, self._domain_total
        single = -total - 1.0
        best: list[tuple[float, tuple[tuple[int, int, str, bool], ...]]] = [(0.0, ())]
        for k in range(1, len(spelled) + 1):
            cand = (best[k - 1][0] + single, best[k - 1][1])
            for i, w in faq_at.get(k, ()):
                uses = seen.get(w, 1)
                if uses > _RIVAL_MARGIN * rivals.get(spelled[i:k], -1) \
                        and (score := best[i][0] + math.log(max(uses, _DOMAIN_MIN)) - total) >= cand[0]:  # a tie: the FAQ word
                    cand = (score, (*best[i][1], (i, k, w, True)))
            for m in range(2, min(4, k) + 1):
                hit = table.get(spelled[k - m:k])
                if hit is not None and (score := best[k - m][0] + hit[0] - total) > cand[0]:
                    cand = (score, (*best[k - m][1], (k - m, k, hit[1], False)))
            best.append(cand)
        return best[-1][1]


_LATIN_RE = re.compile(r"[a-z]+")


def noise_pattern(word: str) -> str:
    """A noise word as one alternative; an ASCII one only as a whole word. Every alternative starts
    with its first character (the word-start check comes right after it, as a lookbehind over both),
    so the regex skips positions by its first-character set instead of trying each word everywhere."""
    if word[0] in ASCII_ALNUM or word[-1] in ASCII_ALNUM:
        first = re.escape(word[0])
        return r"%s(?<![a-z0-9]%s)%s(?![a-z0-9])" % (first, first, re.escape(word[1:]))
    return re.escape(word)


def words_pattern(words: Iterable[str]) -> re.Pattern | None:
    """One regex for a list of noise-like words (``noise_pattern`` each), longest first; None for none."""
    alternatives = sorted(set(words) - {""}, key=len, reverse=True)
    return re.compile("|".join(map(noise_pattern, alternatives))) if alternatives else None


def lengths_by_first(words) -> dict[str, tuple[int, ...]]:
    by_first: dict[str, set[int]] = {}
    for w in words:
        if w:
            by_first.setdefault(w[0], set()).add(len(w))
    return {c: tuple(sorted(ls, reverse=True)) for c, ls in by_first.items()}
