"""Fixtures of the console tests: the app with WXBOT_SECRET_KEY, an admin and a support user, a
controllable clock, and test clients signed in as each; WeChat's API and picture host, the tickets
Runtime; and for the browser tests a real Chromium (one per session, a fresh tab without cookies per
test), the app served over HTTP, the real worker loop and a folder for each module's screenshots."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from helpers.browser import SHOT, LiveServer, alive, chromium, fresh_tab, output_dir, quit_browser
from helpers.console import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    SECRET_KEY,
    SUPPORT_NAME,
    SUPPORT_PASSWORD,
    signin,
)
from helpers.servers import picture_host, wechat_api_server
from helpers.tickets import ticket_internals_env
from wxbot.worker import Worker


class Clock:
    def __init__(self, now: float = 1_750_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def env_overrides() -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY, **ticket_internals_env()}


@pytest.fixture
def settings(settings):
    """Console passwords hashed with argon2's cheapest parameters (``console.hash_profile``): these tests
    add users and sign in a few hundred times, and the shipped parameters cost about 0.15 s a hash. What
    is tested (a hash, never the password; verify; sessions) is the same."""
    internals = json.loads(settings.test_internals or "{}")
    internals.setdefault("console", {}).setdefault("hash_profile", "CHEAPEST")
    return settings.replace(test_internals=json.dumps(internals))


@pytest.fixture
def console(app):
    """The console's shared objects (users, sessions, throttle, clock)."""
    return app.extensions["wxbot_console"]


@pytest.fixture
def clock(console) -> Clock:
    c = Clock()
    console.clock = c
    return c


@pytest.fixture
def users(console, clock):
    console.users.add(ADMIN_NAME, "admin", ADMIN_PASSWORD)
    console.users.add(SUPPORT_NAME, "support", SUPPORT_PASSWORD)
    return console.users


@pytest.fixture
def admin(app, users):
    client = app.test_client()
    resp = signin(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def support(app, users):
    client = app.test_client()
    resp = signin(client, SUPPORT_NAME, SUPPORT_PASSWORD)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def wechat_api():
    """WeChat's API stand-in that hands out an access token (customer-service replies, the menu push)."""
    with wechat_api_server() as server:
        yield server


@pytest.fixture
def pics():
    """WeChat's picture host (PicUrl): /pic/1.png."""
    with picture_host(SHOT) as server:
        yield server


@pytest.fixture
def rt(app):
    """The app's tickets Runtime (the same objects its routes use)."""
    return app.extensions["wxbot"].features.tickets.rt


# -- the browser tests -------------------------------------------------------------------------------------

@pytest.fixture
def live(app):
    """The app over HTTP on 127.0.0.1, with the admin and the support user."""
    app.extensions["wxbot_console"].users.add(ADMIN_NAME, "admin", ADMIN_PASSWORD)
    app.extensions["wxbot_console"].users.add(SUPPORT_NAME, "support", SUPPORT_PASSWORD)
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def worker(app):
    """The real worker loop (every task of `wxbot worker`) in a thread, on the app's services."""
    bot = app.extensions["wxbot"]
    w = Worker(bot.services, bot.features.worker_tasks())
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    yield w
    w.stopping.set()
    thread.join(10)


class _Chromium:
    """The session's one Chromium, started when a test first asks and again if a test broke it."""

    def __init__(self) -> None:
        self.driver = None

    def get(self):
        if self.driver is not None and not alive(self.driver):
            quit_browser(self.driver)
            self.driver = None
        if self.driver is None:
            self.driver = chromium()
        return self.driver

    def quit(self) -> None:
        if self.driver is not None:
            quit_browser(self.driver)


@pytest.fixture(scope="session")
def _chromium():
    holder = _Chromium()
    yield holder
    holder.quit()


@pytest.fixture
def browser(_chromium):
    """A headless Chromium at the phone's size: the session's one, in a new tab with no cookies, cache or
    storage from an earlier test (starting Chromium is what costs)."""
    driver = _chromium.get()
    fresh_tab(driver)
    return driver


@pytest.fixture(scope="session")
def _shots_root() -> Path:
    path = output_dir()
    print(f"\nconsole screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def shots_dir(_shots_root, request) -> Path:
    """tests/output/console-<time>/<module>/: the screenshots of one test module."""
    path = _shots_root / request.module.__name__.rpartition(".")[2].removeprefix("test_")
    path.mkdir(exist_ok=True)
    return path
