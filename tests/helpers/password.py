"""The password feature's test account: followers, config edits, reply checks and a fake NextChat receiver."""
from __future__ import annotations

import json
import time

from helpers.env import edit_bot_yaml
from helpers.servers import LocalHTTPServer
from wxbot.notifiers.webhook import verify
from wxbot.wechat.protocol import Message

OPENID = "oFollowerPw000000000000000001"
OTHER = "oFollowerPw000000000000000002"
SITE = "https://chat.test.invalid"

# bot.yaml's password section (policy) for every password test ...
BASE_CFG = {"site_url": SITE, "schedule_cron": None}
# ... and the internals (wxbot.defaults.Password), through WXBOT_TEST_INTERNALS: a failing sync stays quick.
BASE_INTERNALS = {"sync_retry_base": 0.05, "sync_retry_max": 0.2, "sync_deadline": 2.0}
# The sync tests' extra policy: admins are alerted after the second failed attempt.
SYNC_CFG = {"alert_after_failures": 2}

SYNC_SECRET = "nextchat-sync-secret-for-tests"
SYNC_ADMIN_TOKEN = "admin-token-sync-tests-1234567890abcdef"


def write_password_cfg(config_dir, values: dict) -> None:
    edit_bot_yaml(config_dir, "password", values)


def is_password_reply(content: str | None, password: str) -> bool:
    return bool(content) and f"当前密码：{password}" in content


def text_msg(openid: str, content: str, msg_id: str) -> Message:
    return Message(to_user="gh", from_user=openid, create_time=int(time.time()), type="text", msg_id=msg_id,
                   content=content)


def settle(sync, now=None, max_steps=5) -> int:
    """Run sync steps (``PasswordSync.sync_once``) until nothing is left to do (or it fails); return the
    number of steps."""
    steps = 0
    while steps < max_steps and sync.sync_once(now):
        steps += 1
        if sync.store.state().sync_state == "failing":
            break
    return steps


class FakeNextChat:
    """Verifies like the README's receiver, then "restarts NextChat" with CODE=<codes>."""

    def __init__(self, server: LocalHTTPServer, secret: str):
        self.server = server
        self.secret = secret
        self.fail_with: int | None = None
        self.code: list[str] = []
        self.accepted: list[dict] = []
        self.refused = 0
        server.on("/sync", self.handle)

    def handle(self, req):
        ok = verify(self.secret, req.headers.get("X-Wxbot-Timestamp", ""), req.body,
                    req.headers.get("X-Wxbot-Signature", ""))
        if not ok:
            self.refused += 1
            return 401, {"error": "bad signature"}
        if self.fail_with:
            return self.fail_with, {"error": "nextchat restart failed"}
        body = json.loads(req.body)
        self.code = body["code_env"].split(",")
        self.accepted.append(body)
        return 200, {"ok": True}
