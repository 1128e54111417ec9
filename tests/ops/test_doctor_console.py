"""``wxbot doctor`` says whether the console is on, and why not."""
from __future__ import annotations

import io

from helpers.console import SECRET_KEY
from helpers.env import make_env
from wxbot import doctor


def console_line(env: dict) -> str:
    out = io.StringIO()
    doctor.main(env, out=out, timeout=0.5)
    found = [ln for ln in out.getvalue().splitlines() if ln[2:].startswith("console:")]
    assert len(found) == 1, out.getvalue()
    return found[0]


def test_without_a_secret_key_the_doctor_says_the_console_is_off_and_how_to_turn_it_on(tmp_path, config_dir):
    env = make_env("redis://127.0.0.1:1/0", config_dir, tmp_path / "data")
    line = console_line(env)
    assert "关闭" in line and "WXBOT_SECRET_KEY" in line and "404" in line and "adduser" in line


def test_with_a_secret_key_the_console_is_on_and_the_key_is_never_printed(tmp_path, config_dir):
    env = make_env("redis://127.0.0.1:1/0", config_dir, tmp_path / "data", WXBOT_SECRET_KEY=SECRET_KEY)
    line = console_line(env)
    assert line.startswith("✓") and "/console" in line and SECRET_KEY not in line
