"""The grounded prompt: the system prompt (``config/ai_prompt.txt``) with the FAQ's entries (questions,
answers, links) in place of ``{faq}``, and the follower's question, masked, as the only user message.

Nothing else goes in: no password (the password entry's FAQ text says how to get it, never the value),
no tokens or keys, no openids. A follower's own API key, e-mail or phone number in the question is
masked before it leaves the process. Instructions inside the question ("忽略以上指令…") reach the model
only as the user's text; the system prompt tells it to ignore them, and the reply checks (checks.py)
apply whatever the model says.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...settings import ConfigError

log = logging.getLogger(__name__)

# Secrets and personal numbers a follower may paste: API keys, bearer tokens, e-mails, phone numbers,
# long digit runs (order numbers, IDs).
_MASKS = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), "«key»"),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]{8,}"), "«key»"),
    (re.compile(r"[A-Za-z0-9_\-]{32,}"), "«key»"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "«email»"),
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"), "«phone»"),
    (re.compile(r"(?<!\d)\d{10,}(?!\d)"), "«number»"),
)


def mask_secrets(text: str) -> str:
    """``text`` with keys, tokens, e-mails, phone and long numbers replaced by «key» etc."""
    for regex, repl in _MASKS:
        text = regex.sub(repl, text)
    return text


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: list[dict[str, str]]

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


def faq_block(entries) -> str:
    """The FAQ entries as the model reads them: ``[id] 问：… 答：…``, one block per entry."""
    return "\n\n".join(f"[{e.id}] 问：{e.question}\n答：{e.answer.strip()}" for e in entries)


def build_prompt(system_template: str, entries, question: str, max_chars: int) -> Prompt:
    system = system_template.replace("{faq}", faq_block(entries))
    user = mask_secrets(question.strip()[:max_chars])
    return Prompt([{"role": "system", "content": system}, {"role": "user", "content": user}])


class SystemPrompt:
    """``config/ai_prompt.txt``, re-read when it changes (checked at each model call: the worker's, never
    the webhook's); it must contain ``{faq}``. A broken edit keeps the last good text and logs one error."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._text = ""
        self.error: str | None = None
        self.get(strict=True)

    def get(self, strict: bool = False) -> str:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                text = self.path.read_text(encoding="utf-8")
                if "{faq}" not in text:
                    raise ValueError("必须包含 {faq}（FAQ 条目放在那里）")
                self._stamp, self._text, self.error = stamp, text, None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = f"{self.path}: {exc.__class__.__name__ if isinstance(exc, OSError) else exc}"
            if strict:
                raise ConfigError(reason) from None
            if reason != self.error:
                log.error("ai system prompt broken, keeping the last good version: %s", reason)
            self.error = reason
        return self._text
