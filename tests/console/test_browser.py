"""End to end in a real headless Chromium: a real wxbot HTTP server, the real Redis, the real worker
loop, a local fake WeChat API and picture host. Screenshots of every page go to tests/output/.

Waits poll for a condition (WebDriverWait, the fake API's wait_for); nothing sleeps for timing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.browser import CHROMEDRIVER, CHROMIUM, css, sign_in, sign_out, until, wait
from helpers.console import ADMIN_NAME, ADMIN_PASSWORD, SECRET_KEY, SUPPORT_NAME, SUPPORT_PASSWORD
from helpers.env import edit_bot_yaml, internals_env
from helpers.tickets import TICKET_INTERNALS, TICKET_POLICY, WORKER_INTERNALS
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator, httpx_transport

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                                       "chromium-driver); CI installs them")

FOLLOWER = "oBrowserFollower00000000001"
CS_PATH = "/cgi-bin/message/custom/send"


@pytest.fixture
def s3_env(request) -> dict:
    """WXBOT_S3_* of a fresh bucket on the local S3 server for a test that asks (indirect parametrize)."""
    if not getattr(request, "param", False):
        return {}
    server = request.getfixturevalue("s3_server")
    return server.env(server.new_bucket())


@pytest.fixture
def env_overrides(s3_env) -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY, **s3_env,
            **internals_env(tickets=TICKET_INTERNALS, worker=WORKER_INTERNALS, console={"poll_interval": 0.3})}


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    edit_bot_yaml(config_dir, "tickets", TICKET_POLICY)
    return config_dir


def test_a_day_of_work_in_the_browser(live, worker, browser, shots_dir, pics, wechat_api, redis_client, settings):
    base = live.url
    sim = WeChatSimulator(httpx_transport(base), settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id)
    d = browser

    d.get(base + "/console/login")
    d.save_screenshot(str(shots_dir / "01-login.png"))
    sign_in(d, base, ADMIN_NAME, ADMIN_PASSWORD)
    assert d.current_url.endswith("/console/dashboard")  # admins start on the dashboard
    cookie = d.get_cookie("wxbot_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"

    # Rotate twice; each time the follower's next 【密码】 reply changes.
    for round_, openid in enumerate(("oPasswordAsker0000000000001", "oPasswordAsker0000000000002")):
        d.get(base + "/console/password")
        css(d, "#mode-generated").click()
        css(d, "#confirm").click()
        css(d, "#rotate").click()
        wait(d, lambda dd: "已更换为第" in dd.page_source)
        shown = css(d, "#shown-password").text
        assert f"第 {round_ + 1} 版" in d.page_source
        reply = sim.click(openid, "PASSWORD").content
        assert shown in reply, reply
    d.save_screenshot(str(shots_dir / "02-password.png"))

    # A follower's report appears in the open list without a reload.
    d.get(base + "/console/tickets")
    marker = d.execute_script("window.__notReloaded = 1; return window.__notReloaded;")
    assert marker == 1
    evil = "<script>document.title='pwned'</script>"
    report = sim.text(FOLLOWER, f"付款了key没有发给我 订单号 E2024061512345678 99元 {evil}").content
    tid = until(lambda: (redis_client.zrange(keys.TICKETS_ALL, 0, -1) or [None])[0])
    assert tid in report
    sim.image(FOLLOWER, f"{pics.url}/pic/1.png")
    wait(d, lambda dd: dd.find_elements("css selector", f'li[data-id="{tid}"]'))
    assert d.execute_script("return window.__notReloaded;") == 1  # the same page, not reloaded
    assert "新到 1 个工单" in css(d, "#new-tickets").text
    d.save_screenshot(str(shots_dir / "03-tickets.png"))

    # Open it: the follower's words (escaped), the screenshot inline.
    until(lambda: redis_client.exists(keys.ticket_shot(tid, 1)))  # the worker fetched it
    css(d, f'li[data-id="{tid}"] a').click()
    wait(d, lambda dd: tid in dd.title)
    assert evil in css(d, "#words").text and d.title != "pwned"
    img = css(d, "img.shot")
    wait(d, lambda dd: dd.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 160)
    assert "E2024061512345678" in css(d, "#order-no").text
    d.save_screenshot(str(shots_dir / "04-ticket.png"))

    # Reply: the customer-service message reaches the fake WeChat API.
    css(d, "#reply-text").send_keys("您好，Key 已补发，请查收")
    css(d, "#reply-send").click()
    wait(d, lambda dd: "回复已提交" in dd.page_source)
    sent = [json.loads(r.body) for r in wechat_api.wait_for(CS_PATH, count=1)]
    cs = [m for m in sent if "您好，Key 已补发，请查收" in m.get("text", {}).get("content", "")]
    assert cs and cs[0]["touser"] == FOLLOWER
    d.refresh()
    wait(d, lambda dd: "已送达" in dd.page_source)

    # Close it with a note.
    css(d, "#close-note").send_keys("已补发 Key")
    css(d, "#close").click()
    wait(d, lambda dd: "工单已关闭" in dd.page_source)
    assert "已关闭" in d.page_source and css(d, "#reopen")
    d.save_screenshot(str(shots_dir / "05-ticket-closed.png"))
    wechat_api.wait_for(CS_PATH, count=2)

    for name, path, expect in (("06-users.png", "/console/users", SUPPORT_NAME),
                               ("07-audit.png", "/console/audit", "ticket.close"),
                               ("08-account.png", "/console/account", "更换登录密码")):
        d.get(base + path)
        wait(d, lambda dd, expect=expect: expect in dd.page_source)
        d.save_screenshot(str(shots_dir / name))
    sign_out(d)
    d.get(base + "/console/tickets")
    wait(d, lambda dd: "/console/login" in dd.current_url)

    # Support: tickets yes, the password page is a 403 page.
    sign_in(d, base, SUPPORT_NAME, SUPPORT_PASSWORD)
    assert "公益版密码" not in css(d, "header").text
    d.get(base + "/console/password")
    wait(d, lambda dd: "没有权限" in dd.page_source)
    d.save_screenshot(str(shots_dir / "09-support-403.png"))
    d.get(base + "/console/no-such-page")
    wait(d, lambda dd: "找不到这个页面" in dd.page_source)
    d.save_screenshot(str(shots_dir / "10-not-found.png"))
    sign_out(d)
    assert len(list(shots_dir.glob("*.png"))) >= 10


def test_a_wrong_password_in_the_browser_says_so_and_is_slowed(app, live, browser, shots_dir):
    app.extensions["wxbot_console"].clock = lambda: 1_750_000_000.0  # frozen: the wait never runs out here
    d = browser
    for _ in range(3):
        d.get(live.url + "/console/login")
        css(d, "#name").send_keys(ADMIN_NAME)
        css(d, "#password").send_keys("not-the-password")
        css(d, "#signin").click()
        wait(d, lambda dd: dd.find_elements("css selector", "#login-error"))
        assert "用户名或密码不对" in css(d, "#login-error").text
    d.get(live.url + "/console/login")
    css(d, "#name").send_keys(ADMIN_NAME)
    css(d, "#password").send_keys(ADMIN_PASSWORD)
    css(d, "#signin").click()
    wait(d, lambda dd: dd.find_elements("css selector", "#login-error"))
    assert "秒后再试" in css(d, "#login-error").text
    d.save_screenshot(str(shots_dir / "11-login-throttled.png"))


def test_support_adds_a_note_in_the_browser_and_the_follower_never_sees_it(live, worker, browser, shots_dir,
                                                                          wechat_api, redis_client, settings):
    base = live.url
    sim = WeChatSimulator(httpx_transport(base), settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id)
    d = browser
    sim.text(FOLLOWER, "付款了key没有发给我 订单号 E2024061587654321 99元")
    tid = until(lambda: (redis_client.zrange(keys.TICKETS_ALL, 0, -1) or [None])[0])
    sign_in(d, base, SUPPORT_NAME, SUPPORT_PASSWORD)
    d.get(f"{base}/console/tickets/{tid}")
    wait(d, lambda dd: tid in dd.title)
    note = "内部：用户说换了手机号，<i>别回拨旧号</i>"
    css(d, "#note-text").send_keys(note)
    css(d, "#note-add").click()
    wait(d, lambda dd: "备注已保存" in dd.page_source)
    notes = css(d, "#notes .note")
    assert note in notes.text and SUPPORT_NAME in notes.text  # what, who (and when, on the same line)
    assert not d.find_elements("css selector", "#notes i")  # escaped text, not markup
    d.execute_script("document.getElementById('notes').scrollIntoView()")
    d.save_screenshot(str(shots_dir / "12-ticket-note.png"))
    # A reply after it reaches the follower (the worker runs); the note never does.
    css(d, "#reply-text").send_keys("您好，正在处理")
    css(d, "#reply-send").click()
    wait(d, lambda dd: "回复已提交" in dd.page_source)
    until(lambda: any("您好，正在处理" in r.body.decode("utf-8", "replace") for r in wechat_api.calls(CS_PATH)))
    # The follower's 工单 list, and every message WeChat was asked to send, never carry it.
    mine = sim.text(FOLLOWER, "工单").content
    assert tid in mine and "换了手机号" not in mine
    assert all("换了手机号" not in r.body.decode("utf-8", "replace") for r in wechat_api.requests)


@pytest.mark.parametrize("s3_env", [True], indirect=True)
def test_a_screenshot_kept_in_the_s3_bucket_shows_inline(live, worker, browser, shots_dir, pics, wechat_api,
                                                         redis_client, settings, s3_env, s3_server):
    base = live.url
    sim = WeChatSimulator(httpx_transport(base), settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id)
    d = browser
    sim.text(FOLLOWER, "付款了key没有发给我 订单号 E2024061511112222 99元")
    tid = until(lambda: (redis_client.zrange(keys.TICKETS_ALL, 0, -1) or [None])[0])
    sim.image(FOLLOWER, f"{pics.url}/pic/1.png")
    bucket = s3_env["WXBOT_S3_BUCKET"]
    until(lambda: s3_server.objects(bucket) == [f"tickets/{tid}/1"])  # the worker put it in the bucket
    until(lambda: '"store": "s3"' in (redis_client.hget(keys.ticket(tid), "shot:1") or ""))
    assert not redis_client.exists(keys.ticket_shot(tid, 1))
    sign_in(d, base, SUPPORT_NAME, SUPPORT_PASSWORD)
    d.get(f"{base}/console/tickets/{tid}")
    wait(d, lambda dd: tid in dd.title)
    img = css(d, "img.shot")
    wait(d, lambda dd: dd.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 160)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    d.save_screenshot(str(shots_dir / "13-ticket-s3-screenshot.png"))
