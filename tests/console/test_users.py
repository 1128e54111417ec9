"""Console users: argon2 hashes in Redis, and ``wxbot console adduser|passwd|deluser|users``."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from wxbot.audit import AuditLog
from wxbot.cli import main
from wxbot.clitools import CliContext
from wxbot.console.users import ConsoleUsers, UserError
from wxbot.stores import keys


def run(services, *args, input=None):
    return CliRunner().invoke(main, ["console", *args], obj=CliContext(services.settings, services), input=input)


def test_users_are_stored_with_argon2_hashes_never_the_password(services, redis_client):
    users = ConsoleUsers(services.redis)
    users.add("Boss", "admin", "a-long-password")
    stored = redis_client.hgetall(keys.console_user("boss"))
    assert stored["hash"].startswith("$argon2id$") and "a-long-password" not in str(stored)
    assert users.verify("boss", "a-long-password").role == "admin"
    assert users.verify("BOSS ", "a-long-password") is not None
    assert users.verify("boss", "a-long-passworD") is None
    assert users.verify("nobody", "a-long-password") is None


@pytest.mark.parametrize("name,role,password", [("x", "admin", "a-long-password"), ("has space", "admin", "a-long-password"),
                                                ("ok", "root", "a-long-password"), ("ok", "support", "short")])
def test_bad_names_roles_and_passwords_are_refused(services, name, role, password):
    with pytest.raises(UserError):
        ConsoleUsers(services.redis).add(name, role, password)


def test_adduser_asks_for_the_password_hidden_and_twice(services):
    result = run(services, "adduser", "acg508", "--role", "support", input="support-pass-1\nsupport-pass-1\n")
    assert result.exit_code == 0, result.output
    assert "support-pass-1" not in result.output  # hidden prompt: not echoed
    assert ConsoleUsers(services.redis).verify("acg508", "support-pass-1").role == "support"
    again = run(services, "adduser", "acg508", "--role", "admin", input="x-long-password\nx-long-password\n")
    assert again.exit_code == 1 and "账号 acg508 已存在" in again.output


def test_password_stdin_passwd_deluser_and_users(services):
    assert run(services, "adduser", "boss", "--role", "admin", "--password-stdin", input="boss-pass-123\n").exit_code == 0
    listing = run(services, "users")
    assert listing.exit_code == 0 and "boss" in listing.output and "admin" in listing.output
    users = ConsoleUsers(services.redis)
    gen = users.get("boss").gen
    assert run(services, "passwd", "boss", "--password-stdin", input="new-boss-pass-1\n").exit_code == 0
    assert users.verify("boss", "new-boss-pass-1") is not None and users.get("boss").gen == gen + 1
    short = run(services, "passwd", "boss", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "密码至少" in short.output
    assert run(services, "deluser", "boss").exit_code == 0
    assert users.get("boss") is None
    gone = run(services, "deluser", "boss")
    assert gone.exit_code == 1 and "没有账号 boss" in gone.output
    assert "还没有控制台账号" in run(services, "users").output
    actions = [(e.actor, e.action) for e in AuditLog(services.redis).recent()]
    assert ("cli", "console.adduser") in actions and ("cli", "console.deluser") in actions
