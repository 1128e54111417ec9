"""The test account's settings: constants and the environment of a wxbot process."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"

TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
ADMIN = "o_admin_0000000000000000001"
SUPPORT = "o_support_00000000000000001"


# Outbound calls a test did not point at a local server of its own go here: nothing listens on port 9
# (discard), so they fail at once, and no test ever reaches WeChat or the seller's API.
NOWHERE = "http://127.0.0.1:9"


def make_env(redis_url: str, config_dir: Path, data_dir: Path, safe: bool = False, **extra: str) -> dict:
    env = {
        "WECHAT_API_BASE_URL": NOWHERE,
        "WXBOT_AI_BASE_URL": NOWHERE,
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": "test-app-secret",
        "REDIS_URL": redis_url,
        "WXBOT_CONFIG_DIR": str(config_dir),
        "WXBOT_DATA_DIR": str(data_dir),
        "WXBOT_ADMIN_OPENIDS": ADMIN,
        "WXBOT_SUPPORT_OPENIDS": SUPPORT,
    }
    if safe:
        env["WECHAT_ENCODING_AES_KEY"] = AES_KEY
    env.update(extra)
    return env


def internals_env(**areas: dict) -> dict:
    """``WXBOT_TEST_INTERNALS`` for a wxbot process: e.g. ``internals_env(tickets={"reclaim_idle": 0.6})``."""
    return {"WXBOT_TEST_INTERNALS": json.dumps(areas)}


def edit_bot_yaml(config_dir: Path, section: str, values: dict) -> None:
    """Set ``values`` in one section of a test's copy of config/bot.yaml."""
    path = Path(config_dir) / "bot.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
