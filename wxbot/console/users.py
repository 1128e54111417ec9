"""Console users in Redis, so every web process sees the same ones: a name, a role (``admin`` or
``support``), an argon2 hash and a session generation. Bumping the generation (a new password, the
user deleted) ends that user's sessions in every browser (``sessions.SessionStore`` checks it)."""
from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import redis
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from ..stores import keys

ADMIN = "admin"
SUPPORT = "support"
ROLES = (ADMIN, SUPPORT)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


class UserError(ValueError):
    """A name, role or password that cannot be used; ``str()`` says why, in Chinese (the CLI's error line;
    the console words it itself: ``admin._user_error``)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    gen: int
    created_at: float
    password_changed_at: float

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


class ConsoleUsers:
    def __init__(self, client: redis.Redis, min_password_length: int = 10, hash_profile: str = "RFC_9106_LOW_MEMORY"):
        self.r = client
        self.min_password_length = min_password_length
        self.hasher = PasswordHasher.from_parameters(getattr(profiles, hash_profile))

    @functools.cached_property
    def _dummy(self) -> str:
        """Verified against when the name is unknown, so a wrong name costs as long as a wrong password
        (made on first use: every app builds a ConsoleUsers, and a hash costs about 0.15 s)."""
        return self.hasher.hash("wxbot-console-no-such-user")

    @staticmethod
    def check_name(name: str) -> str:
        name = (name or "").strip().lower()
        if not NAME_RE.match(name):
            raise UserError("用户名需要 2-32 个字符：a-z 0-9 _ . -（以字母或数字开头）")
        return name

    def check_password(self, password: str) -> None:
        if len(password) < self.min_password_length:
            raise UserError(f"密码至少 {self.min_password_length} 个字符")
        if len(password) > 256:
            raise UserError("密码最多 256 个字符")

    # -- reads -----------------------------------------------------------------------------------
    def get(self, name: str) -> User | None:
        if not name:
            return None
        h = self.r.hgetall(keys.console_user(name))
        return _user(name, h) if h else None

    def all(self) -> list[User]:
        names = sorted(self.r.smembers(keys.CONSOLE_USERS))
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.console_user(name))
        return [_user(name, h) for name, h in zip(names, pipe.execute()) if h]

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs; None otherwise (unknown names cost the same)."""
        try:
            name = self.check_name(name)
        except UserError:
            name = ""
        h = self.r.hgetall(keys.console_user(name)) if name else {}
        try:
            self.hasher.verify(h.get("hash") or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if not h.get("hash"):
            return None
        if self.hasher.check_needs_rehash(h["hash"]):
            self.r.hset(keys.console_user(name), "hash", self.hasher.hash(password))
        return _user(name, h)

    # -- writes ----------------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, now: float | None = None) -> User:
        name = self.check_name(name)
        if role not in ROLES:
            raise UserError("角色只能是 admin 或 support")
        self.check_password(password)
        now = time.time() if now is None else now
        fields = {"role": role, "hash": self.hasher.hash(password), "gen": 1, "created_at": repr(now),
                  "password_changed_at": repr(now)}
        key = keys.console_user(name)
        if not self.r.hsetnx(key, "role", role):
            raise UserError(f"账号 {name} 已存在（改密码请用 passwd）")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.sadd(keys.CONSOLE_USERS, name)
        pipe.execute()
        return _user(name, {k: str(v) for k, v in fields.items()})

    def set_password(self, name: str, password: str, now: float | None = None) -> User:
        """New password; every session of the user ends (the generation moves on)."""
        name = self.check_name(name)
        self.check_password(password)
        key = keys.console_user(name)
        if not self.r.exists(key):
            raise UserError(f"没有账号 {name}")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"hash": self.hasher.hash(password),
                                "password_changed_at": repr(time.time() if now is None else now)})
        pipe.hincrby(key, "gen", 1)
        pipe.execute()
        user = self.get(name)
        assert user is not None
        return user

    def delete(self, name: str) -> bool:
        """Remove the user; their sessions end with it."""
        name = self.check_name(name)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(keys.console_user(name))
        pipe.srem(keys.CONSOLE_USERS, name)
        removed, _ = pipe.execute()
        return bool(removed)


def _user(name: str, h: dict[str, str]) -> User:
    return User(name, h.get("role", SUPPORT), int(h.get("gen") or 0), float(h.get("created_at") or 0),
                float(h.get("password_changed_at") or 0))
