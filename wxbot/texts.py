"""Follower-facing texts (``config/texts.yaml``, by dotted key such as ``password.reply``) and the
hot-reloading file they (and the FAQ) are read through.

Files are re-read when their mtime changes (checked at most every ``reload_interval`` seconds, so the
hot path pays a clock read, not a stat). A broken file at start is a ConfigError; a broken edit later
keeps the last good version and logs one error.
"""
from __future__ import annotations

import logging
import os
import string
import threading
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import yaml
from pydantic import ValidationError

from .settings import ConfigError, one_line, yaml_load

log = logging.getLogger(__name__)

T = TypeVar("T")


def zone_label(when: "datetime") -> str:
    """The zone of an aware datetime as people read it next to a time: ``UTC+8``, ``UTC-3:30``, ``UTC``."""
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def show_time(ts: float | str | None, zone: "tzinfo", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time for a person, in the bot's one zone (bot.yaml ``timezone``) and saying which:
    ``2026-12-01 20:05 (UTC+8)``; ``-`` for none."""
    if ts in (None, "", 0, "0"):
        return "-"
    when = datetime.fromtimestamp(float(ts), zone)
    return f"{when.strftime(fmt)} ({zone_label(when)})"


class ReloadingFile(Generic[T]):
    """A parsed config file that follows edits on disk and keeps the last good version."""

    def __init__(self, path: Path, parse: Callable[[Any], T], reload_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self._clock = clock
        self._parse = parse
        self._interval = reload_interval
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._stamp: tuple[int, int] | None = None
        self.error: str | None = None
        self._value: T = self._load_strict()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _load_strict(self) -> T:
        self._stamp = self._stat()
        try:
            raw = yaml_load(self.path) if self._stamp is not None else None
            return self._parse(raw)
        except (yaml.YAMLError, ValidationError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{self.path}: {one_line(exc)}") from None

    def get(self) -> T:
        now = self._clock()
        if now < self._next_check:
            return self._value
        with self._lock:
            if now < self._next_check:
                return self._value
            self._next_check = now + self._interval
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._value = self._load_strict()
                    if self.error:
                        log.info("config reloaded file=%s (error cleared)", self.path)
                    else:
                        log.info("config reloaded file=%s", self.path)
                    self.error = None
                except ConfigError as exc:
                    self.error = str(exc)
                    log.error("config file broken, keeping last good version: %s", exc)
        return self._value


_FORMATTER = string.Formatter()


def _check_placeholders(key: str, text: str) -> None:
    """Only plain ``{name}`` placeholders: a stray brace, ``{}``, ``{0}``, ``{a[x]}``, ``{a.b}``, a
    conversion or a format spec would break (or leak) every reply that uses this text."""
    try:
        fields = [(name, conv, spec) for _, name, spec, conv in _FORMATTER.parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{key}: bad placeholder ({exc}); write {{{{ and }}}} for literal braces") from None
    for name, conv, spec in fields:
        if not name.isidentifier() or conv or spec:
            raise ValueError(f"{key}: placeholder {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                             "is not a plain {name}; write {{ and }} for literal braces")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name}


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Texts:
    """Follower-facing texts by dotted key. ``render`` fills ``{placeholders}`` and leaves unknown ones."""

    def __init__(self, raw: Any):
        if not isinstance(raw, dict):
            raise ValueError("top level must be a mapping")
        self._flat: dict[str, str] = {}
        self._flatten("", raw)

    def _flatten(self, prefix: str, node: dict) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if isinstance(value, dict):
                self._flatten(full + ".", value)
            elif isinstance(value, str):
                text = value.rstrip("\n")
                _check_placeholders(full, text)
                self._flat[full] = text
            else:
                raise ValueError(f"{full}: must be text")

    def __contains__(self, key: str) -> bool:
        return key in self._flat

    def keys(self) -> list[str]:
        return sorted(self._flat)

    def get(self, key: str) -> str:
        return self._flat[key]

    def render(self, key: str, **values: Any) -> str:
        return self._flat[key].format_map(_SafeDict(values))


def texts_file(config_dir: Path, reload_interval: float = 1.0) -> ReloadingFile[Texts]:
    """texts.yaml, hot-reloaded. An edit that removes a text the process started with, uses a
    placeholder that text did not have (a typo such as {pasword}) or breaks a placeholder is refused:
    the last good version stays and one error is logged."""
    baseline: dict[str, set[str]] = {}  # key -> placeholders, as the process started

    def parse(raw: Any) -> Texts:
        texts = Texts(raw)
        missing = sorted(set(baseline) - set(texts.keys()))
        if missing:
            raise ValueError(f"text(s) removed: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        for key, allowed in baseline.items():
            unknown = placeholders(texts.get(key)) - allowed
            if unknown:  # e.g. {pasword}: followers would see the braces instead of the password
                raise ValueError(f"{key}: unknown placeholder {{{sorted(unknown)[0]}}}; this text can use "
                                 + (", ".join("{" + p + "}" for p in sorted(allowed)) or "no placeholders"))
        if not baseline:
            baseline.update({key: placeholders(texts.get(key)) for key in texts.keys()})
        return texts

    return ReloadingFile(Path(config_dir) / "texts.yaml", parse, reload_interval)
