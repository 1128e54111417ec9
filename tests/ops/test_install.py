"""The shipped config is package data: a regular (non-editable) install can create a bot folder."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from helpers.env import ROOT
from wxbot.folder import shipped_config

pytestmark = pytest.mark.ops


def test_repository_config_is_the_shipped_config():
    assert (ROOT / "config").resolve() == shipped_config().resolve()


def test_a_wheel_carries_the_config_and_init_works_from_it(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=120)
    wheel = next((tmp_path / "dist").glob("wxbot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"wxbot/data/config/{n}" for n in ("ai_prompt.txt", "bot.yaml", "faq.yaml", "menu.yaml", "texts.yaml")} <= names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Import wxbot from the unpacked wheel only (not the checkout) and create a folder with it.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import wxbot.folder as f; "
            "assert f.__file__.startswith(sys.argv[1]), f.__file__; "
            "from pathlib import Path; r = f.init_folder(Path(sys.argv[2])); print(sorted(r.copied))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(site), str(tmp_path / "bot")], capture_output=True,
                         text=True, cwd=str(tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['ai_prompt.txt', 'bot.yaml', 'faq.yaml', 'menu.yaml', 'texts.yaml']"
