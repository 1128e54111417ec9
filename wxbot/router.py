"""An explicit, ordered message router: first match wins, one fallback.

A handler has one shape, ``(message, ctx) -> str | None``: the text to reply, or None for ``success``.
Each route also declares what the one-round-trip claim should read for it (a feature counter, a
snapshot key) and whether its reply can be re-rendered for a retry (``replayable``) or must be stored
because handling it had side effects.

Routing happens twice at most: once before the claim, from the message alone, to know what to read;
once after it when the follower turns out to be in a dialogue (routes with ``needs_dialog``).
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from .protocol import Message

if TYPE_CHECKING:
    from .services import Services
    from .stores.dedupe import Claim

log = logging.getLogger(__name__)

Handler = Callable[[Message, "Ctx"], Optional[str]]
Matcher = Callable[[Message, "Ctx"], bool]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: Matcher
    handle: Handler
    replayable: bool = True
    feature: str | None = None  # per-follower counter name, counted in the claim
    feature_window: int = 0
    snapshot_key: str | None = None
    needs_dialog: bool = False
    shows_pending: bool = True  # the follower sees this reply: add support replies waiting for them
    rate_limited: bool = True  # counts against webhook.msg_limit (not for unsubscribe)


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


# Route order, lowest first; features place their routes in these bands.
ORDER_STAFF = 10  # "#..." staff commands, #我的ID
ORDER_EVENTS = 20  # subscribe, unsubscribe, menu clicks, other events
ORDER_DIALOG = 30  # a follower in the middle of a dialogue (ticket intake)
ORDER_PASSWORD = 40
ORDER_TICKETS = 50
ORDER_FAQ = 60
ORDER_MEDIA = 70  # images, locations, links... outside a dialogue


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._orders: dict[str, int] = {}
        self.fallback: Route | None = None

    def add(self, route: Route, order: int) -> None:
        if route.name in self._orders:
            raise ValueError(f"duplicate route {route.name}")
        self._orders[route.name] = order
        self.routes.append(route)
        self.routes.sort(key=lambda r: self._orders[r.name])  # stable: ties keep insertion order

    def set_fallback(self, route: Route) -> None:
        self.fallback = route

    def resolve(self, msg: Message, ctx: Ctx) -> Route:
        for route in self.routes:
            if route.needs_dialog and ctx.dialog is None:
                continue
            if route.match(msg, ctx):
                return route
        if self.fallback is None:
            raise LookupError("router has no fallback")
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
    def __init__(self) -> None:
        self._commands: dict[str, StaffCommand] = {}

    def add(self, name: str, roles: set[str] | frozenset[str], help: str):
        def register(fn: Callable[[Message, Ctx, str], str]):
            if name in self._commands:
                raise ValueError(f"duplicate staff command #{name}")
            self._commands[name] = StaffCommand(name, frozenset(roles), fn, help)
            return fn

        return register

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

    def available(self, ctx: Ctx) -> list[StaffCommand]:
        roles = self.roles_of(ctx)
        return [c for c in self._commands.values() if c.roles & roles]
