"""Shared by the console tests (tests/console): users, signing in through the real form, CSRF tokens."""
from __future__ import annotations

import re

SECRET_KEY = "console-test-secret-key-0123456789abcdef"
ADMIN_NAME, ADMIN_PASSWORD = "boss", "boss-password-123"
SUPPORT_NAME, SUPPORT_PASSWORD = "acg508", "support-password-456"

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_NONCE = re.compile(r'name="nonce" value="([0-9a-f]{32})"')


def csrf_token(html: str) -> str:
    m = _TOKEN.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def nonce(html: str) -> str:
    m = _NONCE.search(html)
    assert m, "no nonce in the page"
    return m.group(1)


def signin(client, name: str, password: str, next_url: str | None = None):
    """Sign in through the login form (GET for the token, then POST); returns the POST's response."""
    page = client.get("/console/login")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "name": name, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/console/login", data=data)


def post_form(client, page_url: str, action: str, **fields):
    """Submit a form of ``page_url`` to ``action`` with that page's CSRF token (and nonce, if any)."""
    html = client.get(page_url).get_data(as_text=True)
    data = {"csrf_token": csrf_token(html)}
    m = _NONCE.search(html)
    if m:
        data["nonce"] = m.group(1)
    data.update(fields)
    return client.post(action, data=data)
