"""Follower-facing texts (``config/texts.yaml``, by dotted key such as ``password.reply``) and the
hot-reloading file they (and the FAQ) are read through, with the console's edits laid over it
(``LayeredTexts``: stored in Redis, validated exactly as an edit of the file is).

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
        raise ValueError(f"{key}: 占位符写错了（{exc}）；要显示大括号本身请写 {{{{ 和 }}}}") from None
    for name, conv, spec in fields:
        if not name.isidentifier() or conv or spec:
            raise ValueError(f"{key}: 占位符 {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                             "不是简单的 {名称}；要显示大括号本身请写 {{ 和 }}")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name}


def check_text(key: str, text: str, allowed: set[str]) -> None:
    """ValueError unless ``text`` has only plain placeholders that ``allowed`` (those of the text as
    the process started) lists: a typo such as {pasword} would show followers the braces."""
    _check_placeholders(key, text)
    unknown = placeholders(text) - allowed
    if unknown:
        raise ValueError(f"{key}: 没有占位符 {{{sorted(unknown)[0]}}}；这段文字可以用："
                         + ("、".join("{" + p + "}" for p in sorted(allowed)) or "（不能用占位符）"))


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Texts:
    """Follower-facing texts by dotted key. ``render`` fills ``{placeholders}`` and leaves unknown ones."""

    def __init__(self, raw: Any):
        if not isinstance(raw, dict):
            raise ValueError("最外层必须是“名称: 文字”的映射")
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
                raise ValueError(f"{full}: 必须是文字")

    def __contains__(self, key: str) -> bool:
        return key in self._flat

    def keys(self) -> list[str]:
        return sorted(self._flat)

    def get(self, key: str) -> str:
        return self._flat[key]

    def render(self, key: str, **values: Any) -> str:
        return self._flat[key].format_map(_SafeDict(values))

    def overlaid(self, edits: dict[str, str], allowed: dict[str, set[str]]) -> "Texts":
        """A copy with ``edits`` over this file's texts; an edit of a text the file no longer has, or one
        that no longer passes ``check_text``, is skipped (logged) and the file's text stays."""
        out = Texts.__new__(Texts)
        out._flat = dict(self._flat)
        for key, text in edits.items():
            if key not in out._flat:
                continue
            try:
                check_text(key, text, allowed.get(key, placeholders(self._flat[key])))
            except ValueError as exc:
                log.error("text edit skipped: %s", exc)
                continue
            out._flat[key] = text
        return out


def texts_file(config_dir: Path, reload_interval: float = 1.0) -> ReloadingFile[Texts]:
    """texts.yaml, hot-reloaded. An edit that removes a text the process started with, uses a
    placeholder that text did not have (a typo such as {pasword}) or breaks a placeholder is refused:
    the last good version stays and one error is logged."""
    baseline: dict[str, set[str]] = {}  # key -> placeholders, as the process started

    def parse(raw: Any) -> Texts:
        texts = Texts(raw)
        missing = sorted(set(baseline) - set(texts.keys()))
        if missing:
            raise ValueError(f"删掉了文字：{'、'.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        for key, allowed in baseline.items():
            check_text(key, texts.get(key), allowed)  # e.g. {pasword}: followers would see the braces
        if not baseline:
            baseline.update({key: placeholders(texts.get(key)) for key in texts.keys()})
        return texts

    file = ReloadingFile(Path(config_dir) / "texts.yaml", parse, reload_interval)
    file.baseline = baseline  # type: ignore[attr-defined]
    return file


class LayeredTexts:
    """texts.yaml (hot-reloaded) with the console's edits from Redis (``stores.texts.TextOverrides``)
    over it; ``get()`` is what every reply reads, so it costs a clock read: at most every
    ``interval`` seconds one caller checks the edits' version (one GET, skipped while ``available()``
    says Redis is out; an error calls ``failed()`` and keeps the current texts). ``refresh()``
    re-layers at once (after this process stored an edit)."""

    def __init__(self, file: ReloadingFile[Texts], overrides, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, available: Callable[[], bool] = lambda: True,
                 failed: Callable[[], None] = lambda: None, errors: tuple[type[BaseException], ...] = ()):
        self.file = file
        self.overrides = overrides
        self._interval = interval
        self._clock = clock
        self._available = available
        self._failed = failed
        self._errors = errors
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._version: int | None = None
        self._edits: dict[str, str] = {}
        self._base: Texts | None = None
        self._value: Texts = file.get()

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def error(self) -> str | None:
        return self.file.error

    def allowed(self, key: str) -> set[str]:
        """The placeholders ``key``'s text may use (those it had when the process started)."""
        baseline = getattr(self.file, "baseline", {})
        return baseline.get(key, placeholders(self.file.get().get(key)))

    def file_texts(self) -> Texts:
        return self.file.get()

    def get(self) -> Texts:
        base = self.file.get()
        now = self._clock()
        if now >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._next_check = now + self._interval
                self._poll()
            finally:
                self._lock.release()
        if base is not self._base:
            self._relayer(base)
        return self._value

    def refresh(self) -> None:
        with self._lock:
            self._next_check = self._clock() + self._interval
            self._poll(force=True)

    def _poll(self, force: bool = False) -> None:
        if not self._available():
            return
        try:
            version = self.overrides.version()
            if version == self._version and not force:
                return
            version, edits = self.overrides.snapshot()
        except self._errors as exc:
            log.warning("text edits not read: redis unavailable (%s)", exc.__class__.__name__)
            self._failed()
            return
        self._version, self._edits = version, edits
        self._relayer(self.file.get())

    def _relayer(self, base: Texts) -> None:
        allowed = getattr(self.file, "baseline", {})
        self._value = base.overlaid(self._edits, allowed) if self._edits else base
        self._base = base


def merged_texts_yaml(source: str, edits: dict[str, str]) -> str:
    """``source`` (texts.yaml's text) with the edited texts written in (comments and order kept by
    ruamel.yaml's round trip), for the admin to commit; keys the file lacks are skipped."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096
    doc = yaml_rt.load(source)
    for key, text in sorted(edits.items()):
        *parents, leaf = key.split(".")
        node = doc
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = LiteralScalarString(text + "\n") if "\n" in text else text
    out = io.StringIO()
    yaml_rt.dump(doc, out)
    return out.getvalue()
