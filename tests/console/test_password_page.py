"""The password page: state, history, and rotation through the same Passwords.rotate as the CLI."""
from __future__ import annotations

from helpers.console import post_form


def test_rotate_generated_with_confirmation_shows_on_the_page_and_reaches_followers(admin, app, sim):
    resp = post_form(admin, "/console/password", "/console/password/rotate", mode="generated", confirm="yes")
    assert resp.status_code == 302
    pw = app.extensions["wxbot"].features.password.passwords
    st = pw.store.state()
    assert st.shown is not None and st.shown.version == 1
    page = admin.get("/console/password").get_data(as_text=True)
    assert st.shown.password in page and "控制台" in page and "console:boss" in page  # history row
    assert page.count("<tr>") >= 2
    assert st.shown.password in sim.text("oFollowerPw00000000000000001", "密码").content
    assert admin.get("/console/password").headers["Cache-Control"] == "no-store"


def test_a_typed_password_is_checked_and_the_confirmation_is_required(admin, app):
    pw = app.extensions["wxbot"].features.password.passwords
    resp = post_form(admin, "/console/password", "/console/password/rotate", mode="typed", value="Spring-2025x")
    assert "请勾选" in admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert pw.store.state().shown is None
    resp = post_form(admin, "/console/password", "/console/password/rotate", mode="typed", value="bad value!",
                     confirm="yes")
    assert "这个密码不能用" in admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert pw.store.state().shown is None
    post_form(admin, "/console/password", "/console/password/rotate", mode="typed", value="Spring-2025x", confirm="yes")
    assert pw.store.state().shown.password == "Spring-2025x"
    entries = app.extensions["wxbot_console"].audit.recent()
    assert entries[0].action == "password.rotate" and "Spring-2025x" not in entries[0].detail


def test_the_audit_page_lists_who_did_what(admin):
    post_form(admin, "/console/password", "/console/password/rotate", mode="generated", confirm="yes")
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "password.rotate" in page and "console.signin" in page and "console:boss" in page


def test_admins_add_and_delete_users_in_the_browser(admin, app, support):
    resp = post_form(admin, "/console/users", "/console/users/add", name="helper2", role="support",
                     password="helper-pass-12", confirm="helper-pass-12")
    assert resp.status_code == 302
    users = app.extensions["wxbot_console"].users
    assert users.get("helper2").role == "support"
    post_form(admin, "/console/users", "/console/users/acg508/delete")
    assert users.get("acg508") is None
    assert support.get("/console/tickets").status_code == 302  # their session ended
    resp = post_form(admin, "/console/users", "/console/users/boss/delete")
    assert users.get("boss") is not None  # not oneself
