"""What a model answer must pass before a follower sees it.

* **Refusal or nothing left**: the model answered ``【不确定】`` (the system prompt asks for exactly that
  when the FAQ does not cover the question), or nothing is left after the checks below: the follower
  gets today's fallback instead.
* **Links**: every URL not written in the FAQ is removed (a URL is compared without trailing
  punctuation and trailing slash).
* **Numbers and prices**: the answer is split into sentences (at 。！？；!?; and line ends). A sentence
  is dropped when it has a number that occurs neither in the FAQ's text (any entry's question or
  answer) nor in the follower's own question (an error code they quote, "401"), or a price in Chinese
  numerals (五元, 三块): so no price, amount or figure the FAQ does not state is ever stated as a fact.
  Numbers are compared as decimals after NFKC (full-width ５ is 5; 0.50 is 0.5); numbers inside links
  that passed the link check are not counted again.
* **Length**: the body is clipped on a character boundary so that it plus the AI note (texts.yaml
  ``ai.note``: an AI answer, and how to reach ACG508) fit in WeChat's 2048 bytes.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ...textnorm import TEXT_LIMIT, clip_utf8

REFUSAL = "【不确定】"
URL_RE = re.compile(r"https?://[^\s，。；！？、）)\]」』”\"'<>（(]+", re.IGNORECASE)
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
CN_PRICE_RE = re.compile(r"[零一二三四五六七八九十百千万两]+\s*(?:元|块|毛|角|分钱|美元|美金|刀)")
_SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;\n])")
_TRAILING = ".,;:!?。，；：！？"


def _url_key(url: str) -> str:
    return url.rstrip(_TRAILING).rstrip("/").lower()


def _number_key(text: str) -> str:
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:
        return text


def numbers_in(text: str) -> set[str]:
    return {_number_key(n) for n in NUMBER_RE.findall(unicodedata.normalize("NFKC", text))}


class Grounding:
    """What the FAQ states: its links and its numbers (from every entry's question and answer)."""

    def __init__(self, faq_text: str):
        self.urls = {_url_key(u) for u in URL_RE.findall(faq_text)}
        self.numbers = numbers_in(URL_RE.sub(" ", faq_text))

    @classmethod
    def of_entries(cls, entries) -> "Grounding":
        return cls("\n".join(f"{e.question}\n{e.answer}" for e in entries))


@dataclass
class Checked:
    text: str  # what the follower gets (with the note); empty when refused
    refused: bool = False
    removed_urls: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # sentences with a number or price the FAQ lacks
    clipped: bool = False

    def summary(self) -> str:
        parts = [f"refused={int(self.refused)}", f"urls_removed={len(self.removed_urls)}",
                 f"sentences_dropped={len(self.dropped)}", f"clipped={int(self.clipped)}"]
        return " ".join(parts)


def check_answer(raw: str, grounding: Grounding, question: str, note: str, limit: int = TEXT_LIMIT) -> Checked:
    """Apply the checks above to the model's ``raw`` answer to ``question``."""
    out = Checked("")
    text = (raw or "").strip()
    if not text or REFUSAL in text:
        out.refused = True
        return out

    def keep_or_remove(m: re.Match) -> str:
        url = m.group(0)
        core = url.rstrip(_TRAILING)
        if _url_key(core) in grounding.urls:
            return url
        out.removed_urls.append(core)
        return url[len(core):]  # keep the sentence's own punctuation

    text = URL_RE.sub(keep_or_remove, text)
    allowed = grounding.numbers | numbers_in(question)
    kept = []
    for sentence in _SENTENCE_END_RE.split(text):
        if not sentence:
            continue
        bare = URL_RE.sub(" ", sentence)
        unknown = numbers_in(bare) - allowed
        if unknown or CN_PRICE_RE.search(bare):
            out.dropped.append(sentence.strip())
            continue
        kept.append(sentence)
    body = re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip()
    body = re.sub(r"[ \t]+\n", "\n", body)
    if len(re.sub(r"[\W_]+", "", body)) < 2:
        out.refused = True
        return out
    room = limit - len(note.encode("utf-8")) - 1
    clipped = clip_utf8(body, room)
    out.clipped = clipped != body
    out.text = f"{clipped}\n{note}"
    return out
