"""Console sessions and sign-in throttling, both in Redis (any web process serves any request).

The browser holds a signed cookie naming the user and a random session id; the server keeps one
record per session (``keys.console_session``) with the user's generation at sign-in, the sign-in time
and the last use. A request is signed in only while the record exists, the user still exists with that
generation, and neither the idle nor the absolute timeout has passed: sign-out deletes the record, a new
password or ``deluser`` ends every session of that user at once.

Sign-in failures slow the next attempt per user name and per client address (an exponential wait
after a few free attempts, capped at ``throttle_max``): never a lockout an attacker could use to keep
the owner out for good, and no password is checked (or logged) while a wait is running.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis
from flask.sessions import SecureCookieSessionInterface

from ..defaults import Console as ConsoleInternals
from ..stores import keys
from .users import ConsoleUsers, User


@dataclass(frozen=True)
class Check:
    """A session check: ``user`` when signed in, else why not (none, gone, idle, expired)."""

    user: User | None
    reason: str = ""


class SessionStore:
    def __init__(self, client: redis.Redis, users: ConsoleUsers, cfg: ConsoleInternals):
        self.r = client
        self.users = users
        self.cfg = cfg

    def create(self, user: User, now: float, address: str) -> str:
        sid = secrets.token_urlsafe(24)
        key = keys.console_session(sid)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"user": user.name, "gen": user.gen, "t0": repr(now), "last": repr(now),
                                "addr": address[:64]})
        pipe.expire(key, int(self.cfg.absolute_timeout) + 60)
        pipe.execute()
        return sid

    def check(self, name: str, sid: str, now: float) -> Check:
        if not name or not sid:
            return Check(None, "none")
        key = keys.console_session(sid)
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.hgetall(keys.console_user(name))
        rec, uh = pipe.execute()
        if not rec or rec.get("user") != name:
            return Check(None, "gone")
        user = self.users.get(name) if uh else None
        if user is None or str(user.gen) != rec.get("gen"):
            self.r.delete(key)
            return Check(None, "gone")
        if now - float(rec.get("t0") or 0) > self.cfg.absolute_timeout:
            self.r.delete(key)
            return Check(None, "expired")
        if now - float(rec.get("last") or 0) > self.cfg.idle_timeout:
            self.r.delete(key)
            return Check(None, "idle")
        self.r.hset(key, "last", repr(now))
        return Check(user)

    def end(self, sid: str) -> None:
        if sid:
            self.r.delete(keys.console_session(sid))


class LoginThrottle:
    """How long the next sign-in must wait, per user name and per client address."""

    def __init__(self, client: redis.Redis, cfg: ConsoleInternals):
        self.r = client
        self.cfg = cfg

    def _wait(self, h: dict, free: int, now: float) -> float:
        n = int(h.get("n") or 0)
        if n < free:
            return 0.0
        delay = min(self.cfg.throttle_max, self.cfg.throttle_base * 2 ** (n - free))
        return max(0.0, float(h.get("last") or 0) + delay - now)

    def wait(self, name: str, address: str, now: float) -> float:
        """Seconds before a sign-in attempt of ``name`` from ``address`` is checked (0: now)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.console_throttle("user", name))
        pipe.hgetall(keys.console_throttle("addr", address))
        by_user, by_addr = pipe.execute()
        return max(self._wait(by_user, self.cfg.throttle_free_user, now),
                   self._wait(by_addr, self.cfg.throttle_free_address, now))

    def failed(self, name: str, address: str, now: float) -> int:
        """Count a failure; returns the user name's failures in the window."""
        pipe = self.r.pipeline(transaction=True)
        for key in (keys.console_throttle("user", name), keys.console_throttle("addr", address)):
            pipe.hincrby(key, "n", 1)
            pipe.hset(key, "last", repr(now))
            pipe.expire(key, int(self.cfg.throttle_window))
        return int(pipe.execute()[0])

    def succeeded(self, name: str) -> None:
        """The user name's failures are forgotten (the address's are not: it may be guessing others)."""
        self.r.delete(keys.console_throttle("user", name))


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` exactly when the request came over https (behind a trusted
    proxy, ``request.is_secure`` reflects the proxy's X-Forwarded-Proto)."""

    def get_cookie_secure(self, app) -> bool:
        from flask import request

        return bool(request.is_secure) or super().get_cookie_secure(app)
