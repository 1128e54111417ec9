"""``wxbot`` starts light: the CLI's skeleton (and ``--help``) imports neither the features' heavy parts
nor the web app; a command imports what it uses when it runs, and the web process still builds
everything at start. Checked on ``sys.modules`` in a fresh interpreter, no clock involved."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.env import ROOT

# Each of these was imported by ``import wxbot.cli`` before the CLI loaded its parts lazily.
HEAVY = [
    "ahocorasick",  # the FAQ's phrase automaton
    "wxbot.features.faq.matcher",
    "ruamel.yaml",  # the FAQ's export
    "jinja2", "flask", "werkzeug",  # the console's pages
    "wechatpy",  # the AES envelope (and cryptography with it)
    "wxbot.bot", "wxbot.services", "wxbot.worker", "wxbot.console.web",
]

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(setup: str) -> list[str]:
    code = PROBE.format(setup=setup, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("setup", [
    "import wxbot.cli",
    # ``wxbot --help`` and a group's help list every command without running one.
    "import wxbot.cli\nwxbot.cli.main(['--help'], standalone_mode=False)",
    "import wxbot.cli\nwxbot.cli.main(['password', '--help'], standalone_mode=False)",
    "import wxbot.cli\nwxbot.cli.main(['faq', '--help'], standalone_mode=False)",
], ids=["import", "help", "password-help", "faq-help"])
def test_the_cli_skeleton_imports_none_of_the_heavy_parts(setup):
    assert loaded_after(setup) == []


def test_the_web_process_and_the_features_still_load_them_at_start():
    # What the CLI leaves out, the bot's own build imports up front (never on a request): the probe
    # sees every module of the list once the app module, the features and the console are loaded and
    # the endpoint's AES envelope is built.
    setup = ("import wxbot.app, wxbot.bot, wxbot.worker, wxbot.console\nwxbot.console.init_app\n"
             "from wxbot.wechat.protocol import Envelope\nEnvelope('token', bytes(32), 'wx_app')")
    assert loaded_after(setup) == sorted(HEAVY)
