"""The console's guard: nothing without a session, CSRF on every form, no session fixation, no open
redirect, progressive sign-in throttling, sessions that end, roles, escaping, headers and cookie flags."""
from __future__ import annotations

import logging
import re

import pytest

from helpers.console import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    SUPPORT_NAME,
    SUPPORT_PASSWORD,
    csrf_token,
    post_form,
    signin,
)
from helpers.tickets import new_ticket
from wxbot import create_app
from wxbot.stores import keys

PAGES = ["/console/", "/console/tickets", "/console/tickets/250615-K7M3", "/console/tickets/250615-K7M3/shots/1",
         "/console/password", "/console/users", "/console/audit", "/console/account"]
ACTIONS = ["/console/tickets/250615-K7M3/reply", "/console/tickets/250615-K7M3/close",
           "/console/tickets/250615-K7M3/reopen", "/console/tickets/250615-K7M3/retry", "/console/tickets/250615-K7M3/note",
           "/console/password/rotate", "/console/users/add", "/console/users/acg508/delete", "/console/logout"]
ADMIN_PAGES = ["/console/password", "/console/users", "/console/audit"]


@pytest.mark.parametrize("path", PAGES)
def test_no_page_without_a_session(app, users, path):
    resp = app.test_client().get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/console/login?next=")


def test_the_poll_without_a_session_is_a_401_that_says_to_sign_in_again(app, users):
    resp = app.test_client().get("/console/tickets/poll?since=0")
    assert resp.status_code == 401 and "登录" in resp.get_json()["message"]


@pytest.mark.parametrize("path", ACTIONS)
def test_no_action_without_a_session_even_with_a_valid_csrf_token(app, users, redis_client, path):
    client = app.test_client()
    token = csrf_token(client.get("/console/login").get_data(as_text=True))
    before = redis_client.dbsize()
    resp = client.post(path, data={"csrf_token": token, "nonce": "0" * 32, "text": "hi", "confirm": "yes",
                                   "name": "mallory", "role": "admin", "password": "x" * 20, "confirm_": "x"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")
    assert redis_client.dbsize() == before  # nothing was written
    assert users.get("mallory") is None and users.get(SUPPORT_NAME) is not None


@pytest.mark.parametrize("token", [None, "", "wrong-token", "IjEyMyI.ZZZ.bad"])
def test_a_form_without_the_right_csrf_token_is_refused_with_a_page(admin, redis_client, token):
    data = {"confirm": "yes", "mode": "generated"}
    if token is not None:
        data["csrf_token"] = token
    resp = admin.post("/console/password/rotate", data=data)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "表单" in page and "刷新" in page and "Traceback" not in page
    assert not redis_client.exists(keys.password_shown())


def test_sign_in_itself_needs_the_csrf_token(app, users):
    resp = app.test_client().post("/console/login", data={"name": ADMIN_NAME, "password": ADMIN_PASSWORD})
    assert resp.status_code == 400


def test_a_csrf_token_of_another_session_is_refused(app, admin, users):
    other = app.test_client()
    signin(other, SUPPORT_NAME, SUPPORT_PASSWORD)
    foreign = csrf_token(other.get("/console/tickets").get_data(as_text=True))
    resp = admin.post("/console/password/rotate", data={"csrf_token": foreign, "confirm": "yes"})
    assert resp.status_code == 400


def _cookie(client) -> str:
    cookie = client.get_cookie("wxbot_console", path="/console")
    assert cookie is not None
    return cookie.value


def test_signing_in_starts_a_fresh_session_so_a_planted_cookie_is_worth_nothing(app, users):
    """Session fixation: an attacker's pre-sign-in cookie (and its CSRF token) is not the victim's session."""
    attacker = app.test_client()
    attacker_page = attacker.get("/console/login").get_data(as_text=True)
    planted = _cookie(attacker)
    victim = app.test_client()
    victim.set_cookie("wxbot_console", planted, path="/console")
    resp = victim.post("/console/login", data={"csrf_token": csrf_token(attacker_page), "name": ADMIN_NAME,
                                               "password": ADMIN_PASSWORD})
    assert resp.status_code == 302
    assert _cookie(victim) != planted
    # the planted cookie still signs nobody in
    assert attacker.get("/console/tickets").status_code == 302
    # and the old CSRF token does not work in the new session
    resp = victim.post("/console/password/rotate", data={"csrf_token": csrf_token(attacker_page), "confirm": "yes"})
    assert resp.status_code == 400


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                                    "/wechat", "http://localhost/console/", "/console\r\nLocation: //evil"])
def test_no_open_redirect_after_sign_in(app, users, target):
    resp = signin(app.test_client(), ADMIN_NAME, ADMIN_PASSWORD, next_url=target)
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/"


def test_sign_in_returns_to_the_console_page_asked_for(app, users):
    resp = signin(app.test_client(), ADMIN_NAME, ADMIN_PASSWORD, next_url="/console/tickets?status=closed")
    assert resp.headers["Location"] == "/console/tickets?status=closed"


def test_failed_sign_ins_slow_down_per_user_never_lock_out_and_log_no_password(app, users, clock, caplog):
    client = app.test_client()
    caplog.set_level(logging.WARNING, logger="wxbot.console")
    for _ in range(3):  # throttle_free_user
        assert signin(client, ADMIN_NAME, "wrong-password-1").status_code == 401
    resp = signin(client, ADMIN_NAME, ADMIN_PASSWORD)  # even the right password waits now
    assert resp.status_code == 429 and "1 秒后再试" in resp.get_data(as_text=True)
    clock.advance(1.01)
    assert signin(client, ADMIN_NAME, "wrong-password-2").status_code == 401
    resp = signin(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert resp.status_code == 429 and "2 秒后再试" in resp.get_data(as_text=True)  # doubled
    clock.advance(2.01)
    assert signin(client, ADMIN_NAME, ADMIN_PASSWORD).status_code == 302  # never a lockout
    assert "wrong-password" not in caplog.text and ADMIN_PASSWORD not in caplog.text
    assert "console sign-in failed user=boss" in caplog.text
    # a success forgets the user's failures
    assert signin(app.test_client(), ADMIN_NAME, "wrong-password-3").status_code == 401
    assert signin(app.test_client(), ADMIN_NAME, ADMIN_PASSWORD).status_code == 302


def test_the_wait_is_capped_so_the_owner_always_gets_in(app, users, clock, console):
    client = app.test_client()
    for _ in range(12):  # past the cap: 3 free, then 1, 2, 4 ... 64 > 60 s
        clock.advance(console.cfg.throttle_max)
        signin(client, ADMIN_NAME, "wrong-password")
    clock.advance(console.cfg.throttle_max + 0.01)
    assert signin(client, ADMIN_NAME, ADMIN_PASSWORD).status_code == 302


def test_failures_from_one_address_slow_every_name_tried_from_it(app, users, clock, console):
    client = app.test_client()
    for i in range(console.cfg.throttle_free_address):
        assert signin(client, f"guess{i}", "wrong-password").status_code == 401
    assert signin(client, SUPPORT_NAME, SUPPORT_PASSWORD).status_code == 429
    # another address is not slowed by them
    other = app.test_client()
    page = other.get("/console/login", environ_base={"REMOTE_ADDR": "10.0.0.9"}).get_data(as_text=True)
    resp = other.post("/console/login", data={"csrf_token": csrf_token(page), "name": SUPPORT_NAME,
                                              "password": SUPPORT_PASSWORD}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert resp.status_code == 302


def test_an_unknown_name_is_never_logged(app, users, caplog):
    caplog.set_level(logging.WARNING, logger="wxbot.console")
    signin(app.test_client(), "my-secret-password-typed-as-name", "x")
    assert "my-secret-password" not in caplog.text and "user=<unknown>" in caplog.text


def test_idle_and_absolute_timeouts_end_a_session(admin, clock, console):
    clock.advance(console.cfg.idle_timeout - 5)
    assert admin.get("/console/tickets").status_code == 200  # still in use: the idle clock restarts
    clock.advance(console.cfg.idle_timeout - 5)
    assert admin.get("/console/tickets").status_code == 200
    clock.advance(console.cfg.idle_timeout + 1)
    resp = admin.get("/console/tickets")
    assert resp.status_code == 302 and "why=idle" in resp.headers["Location"]
    assert "太久没有操作" in admin.get(resp.headers["Location"]).get_data(as_text=True)


def test_a_busy_session_still_ends_at_the_absolute_timeout(admin, clock, console):
    step = console.cfg.idle_timeout / 2
    for _ in range(int(console.cfg.absolute_timeout // step)):
        clock.advance(step)
        admin.get("/console/tickets")
    clock.advance(step)
    resp = admin.get("/console/tickets")
    assert resp.status_code == 302 and "why=expired" in resp.headers["Location"]


def test_a_new_password_ends_the_users_sessions_everywhere(app, admin, users):
    laptop, phone = admin, app.test_client()
    signin(phone, ADMIN_NAME, ADMIN_PASSWORD)
    resp = post_form(phone, "/console/account", "/console/account", current=ADMIN_PASSWORD,
                     new="brand-new-password-1", confirm="brand-new-password-1")
    assert resp.status_code == 302
    assert phone.get("/console/tickets").status_code == 200  # the browser that changed it stays in
    resp = laptop.get("/console/tickets")
    assert resp.status_code == 302 and "why=ended" in resp.headers["Location"]
    assert signin(app.test_client(), ADMIN_NAME, "brand-new-password-1").status_code == 302


def test_passwd_and_deluser_from_the_cli_end_sessions(app, admin, support, users):
    users.set_password(ADMIN_NAME, "another-password-2")
    assert admin.get("/console/tickets").status_code == 302
    users.delete(SUPPORT_NAME)
    assert support.get("/console/tickets").status_code == 302


def test_sign_out_ends_the_session_on_the_server_too(app, admin):
    stolen = _cookie(admin)
    resp = post_form(admin, "/console/tickets", "/console/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/login"
    thief = app.test_client()
    thief.set_cookie("wxbot_console", stolen, path="/console")
    assert thief.get("/console/tickets").status_code == 302


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_support_gets_a_403_page_on_admin_pages(support, path):
    resp = support.get(path)
    assert resp.status_code == 403
    page = resp.get_data(as_text=True)
    assert "没有权限" in page and "管理员" in page


def test_support_cannot_rotate_the_password(support, redis_client):
    resp = post_form(support, "/console/tickets", "/console/password/rotate", confirm="yes")
    assert resp.status_code == 403 and not redis_client.exists(keys.password_shown())


def test_support_sees_no_admin_links(support):
    page = support.get("/console/tickets").get_data(as_text=True)
    assert "/console/password" not in page and "/console/users" not in page


def test_a_followers_html_is_escaped_everywhere(admin, sim, redis_client):
    evil = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
    tid = new_ticket(sim, redis_client, text=f"付款了key没有发给我 订单号 E2024061512345678 99元 {evil}")
    for path in ("/console/tickets", f"/console/tickets/{tid}"):
        page = admin.get(path).get_data(as_text=True)
        assert "<script>document" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in admin.get(f"/console/tickets/{tid}").get_data(as_text=True)
    # the poll hands out JSON, which the page inserts as text
    assert admin.get("/console/tickets/poll?since=0").mimetype == "application/json"


def test_cookie_flags_over_http_and_https(app, users):
    resp = signin(app.test_client(), ADMIN_NAME, ADMIN_PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    client = app.test_client()
    page = client.get("/console/login", base_url="https://bot.example.com").get_data(as_text=True)
    resp = client.post("/console/login", base_url="https://bot.example.com",
                       headers={"Referer": "https://bot.example.com/console/login"},
                       data={"csrf_token": csrf_token(page), "name": ADMIN_NAME, "password": ADMIN_PASSWORD})
    assert resp.status_code == 302
    assert re.search(r"; Secure", resp.headers["Set-Cookie"])


def test_pages_are_never_cached_and_carry_the_safety_headers(admin):
    resp = admin.get("/console/password")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_without_a_secret_key_every_console_path_is_404(settings, redis_client):
    from wxbot.services import build_services

    services = build_services(settings.model_copy(update={"secret_key": None}))
    app = create_app(services.settings, services)
    client = app.test_client()
    for path in ("/console/", "/console/login", "/console/static/console.css", "/console/tickets"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert "WXBOT_SECRET_KEY" in resp.get_data(as_text=True)
    assert client.post("/console/login").status_code == 404
    services.close()


def test_errors_are_pages_that_say_what_to_do(admin):
    resp = admin.get("/console/no-such-page")
    assert resp.status_code == 404 and "回到工单列表" in resp.get_data(as_text=True)
    resp = admin.get("/console/logout")  # a POST-only path
    assert resp.status_code == 405 and "按钮" in resp.get_data(as_text=True)
    resp = admin.get("/console/tickets/250615-K7M3")
    assert resp.status_code == 404 and resp.mimetype == "text/html"


def test_redis_down_is_a_503_page(settings, spare_redis):
    from wxbot.services import build_services

    services = build_services(settings.model_copy(update={"redis_url": spare_redis.url}))
    app = create_app(services.settings, services)
    app.extensions["wxbot_console"].users.add(ADMIN_NAME, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    assert signin(client, ADMIN_NAME, ADMIN_PASSWORD).status_code == 302
    spare_redis.stop()
    resp = client.get("/console/tickets")
    assert resp.status_code == 503 and "Redis" in resp.get_data(as_text=True)
    services.close()
