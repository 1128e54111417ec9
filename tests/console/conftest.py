"""Fixtures of the console tests: the app with WXBOT_SECRET_KEY, an admin and a support user, a
controllable clock, and test clients signed in as each."""
from __future__ import annotations

import pytest

from helpers.console import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    SECRET_KEY,
    SUPPORT_NAME,
    SUPPORT_PASSWORD,
    signin,
)
from helpers.tickets import ticket_internals_env


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
