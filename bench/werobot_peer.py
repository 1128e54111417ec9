"""The WeRoBot peer: the same 【密码】 feature written the way a WeRoBot 1.13.1 app would write it.

bench/run.py serves it under exactly the same gunicorn settings as wxbot and the floor, so its CPU per
request says what an established WeChat framework spends on the same job. Its 【密码】 handler (the
text message "密码" and the menu click with EventKey PASSWORD) does one redis-py round trip, a GET of
the password key on the bench's Redis, and replies with the value.

Configured by environment variables (set by bench/run.py):

    WXBENCH_PEER_TOKEN            the WeChat token (the same as wxbot's bench token)
    WXBENCH_PEER_REDIS_URL        redis-py URL of the bench Redis
    WXBENCH_PEER_PASSWORD_KEY     the key the password is read from
    WXBENCH_PEER_AES_KEY          EncodingAESKey; set (with the app id) for safe mode
    WXBENCH_PEER_APP_ID           the app id, for safe mode

Safe mode: WeRoBot 1.13.1 has no separate mode switch; given ``encoding_aes_key`` and ``app_id`` it
decrypts every message that carries ``<Encrypt>`` and encrypts its replies. WeRoBot's session storage
(SQLite by default) is turned off: the peer does exactly one Redis round trip per message and nothing
else, like a plain WeRoBot app that keeps no per-follower state.

Needs ``pip install werobot==1.13.1``. It imports nothing from wxbot.
"""
from __future__ import annotations

import os

import redis
import werobot

NOT_SET = "密码暂未设置"


def create_app():
    aes_key = os.environ.get("WXBENCH_PEER_AES_KEY") or None
    robot = werobot.WeRoBot(
        token=os.environ["WXBENCH_PEER_TOKEN"],
        encoding_aes_key=aes_key,
        app_id=os.environ.get("WXBENCH_PEER_APP_ID") if aes_key else None,
        SESSION_STORAGE=False,
    )
    client = redis.Redis.from_url(os.environ["WXBENCH_PEER_REDIS_URL"], decode_responses=True)
    key = os.environ["WXBENCH_PEER_PASSWORD_KEY"]

    def password(message):
        return client.get(key) or NOT_SET

    robot.filter("密码")(password)
    robot.key_click("PASSWORD")(password)
    return robot.wsgi
