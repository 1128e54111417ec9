"""An explicit, ordered message router: first match wins, one fallback.

A handler has one shape, ``(message, ctx) -> str | None``: the text to reply, or None for ``success``.
A route declares what it needs from the claim (``ClaimNeeds``: a per-follower counter, a key to read)
and whether its reply can be re-rendered for a retry (``replayable``) or must be stored because
handling it had side effects.

The route is chosen from the message before the claim (so the claim knows what to read), except for
routes that continue a dialogue (``in_dialog``): those are tried only once the claim has shown that
the follower is in one, and take precedence over the rest of the list.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from .stores.dedupe import DEFAULT_NEEDS, Claim, ClaimNeeds
from .wechat.protocol import Message

if TYPE_CHECKING:
    from .services import Services

__all__ = ["ClaimNeeds", "Ctx", "Route", "Router", "StaffCommand", "StaffCommands"]

log = logging.getLogger(__name__)

Handler = Callable[[Message, "Ctx"], Optional[str]]
Matcher = Callable[[Message, "Ctx"], bool]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: Matcher
    handle: Handler
    replayable: bool = True
    needs: ClaimNeeds = DEFAULT_NEEDS
    in_dialog: bool = False  # continues a dialogue: considered only when the claim found one
    # The dashboard's finer count of a message this route takes (e.g. the FAQ's result), decided before
    # the claim, which counts it (stores/counters.py): cheap, from the message and ``ctx`` alone.
    stat: Callable[[Message, "Ctx"], str] | None = None


@dataclass(slots=True)
class Ctx:
    """Per-request context: services, the claim's data, the sender's roles, a clock."""

    services: "Services"
    openid: str
    claim: "Claim | None" = None
    redis_ok: bool = True
    now: float = field(default_factory=time.time)
    route: str = ""
    outcome: str = ""
    detail: str = ""  # printed in the per-message log line (e.g. the FAQ entry id); no personal data
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self):
        return self.services.texts.get()

    @property
    def settings(self):
        return self.services.settings

    @property
    def redis(self):
        return self.services.redis

    @property
    def dialog(self) -> str | None:
        return self.claim.dialog if self.claim else None

    @property
    def is_admin(self) -> bool:
        return self.services.settings.is_admin(self.openid)

    @property
    def is_support(self) -> bool:
        return self.services.settings.is_support(self.openid)

    @property
    def staff_allowed(self) -> bool:
        """Staff commands need a configured openid *and* a safe-mode account (signed bodies)."""
        return self.services.settings.safe_mode and (self.is_admin or self.is_support)

    def text(self, key: str, **values: Any) -> str:
        return self.texts.render(key, **values)

    def redis_failed(self) -> None:
        """Mark Redis as unusable for the rest of this request (and briefly for the process)."""
        self.redis_ok = False
        self.services.breaker.trip()


def hash_openid(openid: str, salt: bytes) -> str:
    """A stable, non-reversible short id for logs (keyed, so a list of openids cannot be matched)."""
    return hashlib.blake2b(openid.encode("utf-8"), key=salt[:64], digest_size=6).hexdigest()


class Router:
    """Routes in the order given; ``resolve`` returns the first that matches, else the fallback."""

    def __init__(self, *routes: Route, fallback: Route):
        names = [r.name for r in routes] + [fallback.name]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate route(s): {', '.join(sorted(dup))}")
        self.routes = list(routes)
        self.fallback = fallback

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.routes] + [self.fallback.name]

    def resolve(self, msg: Message, ctx: "Ctx") -> Route:
        for route in self.routes:
            if route.in_dialog and ctx.dialog is None:
                continue
            if route.match(msg, ctx):
                return route
        return self.fallback


# -- staff commands ---------------------------------------------------------------------------

ADMIN = "admin"
SUPPORT = "support"


@dataclass(frozen=True, slots=True)
class StaffCommand:
    """``#name args``: accepted only from openids with one of ``roles`` on a safe-mode account."""

    name: str
    roles: frozenset[str]
    handle: Callable[[Message, Ctx, str], str]
    help: str


class StaffCommands:
    """The ``#`` commands, as the features list them, after the built-in ``#帮助`` (which also answers
    an unknown ``#word`` from staff)."""

    def __init__(self, *commands: StaffCommand):
        self._commands: dict[str, StaffCommand] = {}
        for cmd in (StaffCommand("帮助", frozenset({ADMIN, SUPPORT}), self._help, "列出可用的命令"), *commands):
            if cmd.name in self._commands:
                raise ValueError(f"duplicate staff command #{cmd.name}")
            self._commands[cmd.name] = cmd

    @staticmethod
    def split(text: str) -> tuple[str, str] | None:
        text = text.strip()
        if not text or text[0] not in "#＃":
            return None
        parts = text[1:].strip().split(None, 1)  # any whitespace: full-width spaces, newlines
        if not parts:
            return None
        return parts[0], (parts[1].strip() if len(parts) > 1 else "")

    def roles_of(self, ctx: Ctx) -> set[str]:
        roles = set()
        if ctx.is_admin:
            roles.add(ADMIN)
        if ctx.is_support:
            roles.add(SUPPORT)
        return roles

    def find(self, text: str, ctx: Ctx) -> tuple[StaffCommand, str] | None:
        parts = self.split(text)
        if parts is None or not ctx.staff_allowed:
            return None
        name, args = parts
        cmd = self._commands.get(name)
        if cmd is None:
            # An unknown #word from staff is still a command: answer with the help.
            cmd = self._commands.get("帮助")
            args = name
        if cmd is None or not (cmd.roles & self.roles_of(ctx)):
            return None
        return cmd, args

    def refused(self, text: str, ctx: Ctx) -> str | None:
        """The command word of a ``#command`` this sender may not use (not staff, or a plaintext
        account, where anyone can forge a staff openid), else None. It stays an ordinary text."""
        parts = self.split(text)
        if parts is None or parts[0] not in self._commands or self.find(text, ctx) is not None:
            return None
        return parts[0]

    def available(self, ctx: Ctx) -> list[StaffCommand]:
        roles = self.roles_of(ctx)
        return [c for c in self._commands.values() if c.roles & roles]

    def _help(self, msg: Message, ctx: Ctx, args: str) -> str:
        # Each command's line comes from texts.yaml (staff.commands.<name>) when present, else from the
        # command's own help; a line may start with its own usage ("#回复 工单号 内容：...").
        texts = ctx.texts
        lines = []
        for c in self.available(ctx):
            key = f"staff.commands.{c.name}"
            help_text = texts.render(key) if key in texts else c.help
            lines.append(help_text if help_text.startswith("#" + c.name) else f"#{c.name} {help_text}")
        head = ctx.text("staff.unknown", name=args) + "\n" if args and args != "帮助" else ""
        return head + ctx.text("staff.help", commands="\n".join(lines))
