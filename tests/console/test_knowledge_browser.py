"""The knowledge pages in a real headless Chromium at 375 px: two real wxbot web processes (HTTP servers
with their own services) on the real Redis, the real worker loop, a local fake WeChat API. A follower's
unanswered question is taught in the browser and answered by the other process, undone, an answer is
previewed and saved, a broken placeholder is refused, the menu is pushed; a screenshot of each page.

Waits poll for a condition (WebDriverWait); nothing sleeps for timing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.browser import CHROMEDRIVER, CHROMIUM, LiveServer, css, open_page, sign_in, wait
from helpers.console import ADMIN_NAME, ADMIN_PASSWORD, SECRET_KEY, SUPPORT_NAME, SUPPORT_PASSWORD
from helpers.knowledge import INVOICE, UNMATCHED, inline_reload_env, write_faq
from helpers.tickets import TICKET_INTERNALS, WORKER_INTERNALS
from wxbot import create_app
from wxbot.services import build_services
from wxbot.testing import WeChatSimulator, httpx_transport

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                                       "chromium-driver); CI installs them")

FOLLOWER = "oKnowledgeBrowser00000000001"
MENU_CREATE = "/cgi-bin/menu/create"
NEW_ANSWER = "现在开电子发票。\n开票说明：https://example.com/fapiao"


@pytest.fixture
def env_overrides() -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY, **inline_reload_env(tickets=TICKET_INTERNALS, worker=WORKER_INTERNALS)}


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    write_faq(config_dir)
    return config_dir


@pytest.fixture
def live2(settings):
    """A second web process: its own services, features and app, the same Redis and config."""
    services = build_services(settings)
    server = LiveServer(create_app(settings, services)).start()
    yield server
    server.stop()
    services.close()


def test_teach_undo_edit_texts_and_menu_in_the_browser(live, live2, worker, browser, shots_dir, wechat_api,
                                                        settings):
    from selenium.webdriver.support.ui import Select

    sim = WeChatSimulator(httpx_transport(live.url), settings.wechat_token, settings.aes_key_bytes,
                          settings.wechat_app_id)
    sim2 = WeChatSimulator(httpx_transport(live2.url), settings.wechat_token, settings.aes_key_bytes,
                           settings.wechat_app_id)
    d, base = browser, live.url
    fallback = sim.text(FOLLOWER, UNMATCHED).content
    assert INVOICE not in fallback

    # The follower's unanswered question is in the list; teach it to 发票 with one click.
    sign_in(d, base, ADMIN_NAME, ADMIN_PASSWORD)
    open_page(d, base + "/console/unmatched", UNMATCHED)
    card = css(d, f'li.question[data-text="{UNMATCHED}"]')
    assert "问了 1 次" in card.text and "第一次" in card.text
    d.save_screenshot(str(shots_dir / "21-unmatched.png"))
    Select(card.find_element("css selector", "select.teach-entry")).select_by_value("invoice")
    card.find_element("css selector", "button.teach-button").click()
    wait(d, lambda dd: "已教会" in dd.page_source)
    assert "现在没有没答上的问题" in d.page_source
    assert INVOICE in sim2.text(FOLLOWER, UNMATCHED).content  # the other process: no restart

    # Undo it from the FAQ page's history.
    open_page(d, base + "/console/faq", "操作记录")
    css(d, "button.undo").click()
    wait(d, lambda dd: "已撤销" in dd.page_source)
    assert sim2.text(FOLLOWER, UNMATCHED).content == fallback

    # Try a question: the explanation and the reply.
    css(d, "#try-q").send_keys("能开发票吗")
    css(d, "#try").click()
    wait(d, lambda dd: dd.find_elements("css selector", "#explain"))
    assert "结果：回答 invoice" in css(d, "#explain").text
    assert INVOICE in css(d, "#try-reply").text
    d.save_screenshot(str(shots_dir / "22-faq.png"))

    # Edit the answer: the preview shows it as WeChat would (a link), saving changes the next reply.
    open_page(d, base + "/console/faq/entry/invoice", "示例问法")
    box = css(d, "#answer")
    box.clear()
    box.send_keys(NEW_ANSWER)
    css(d, "#answer-preview").click()
    wait(d, lambda dd: "预览（还没保存）" in dd.page_source)
    link = css(d, "#preview a")
    assert link.get_attribute("href") == "https://example.com/fapiao" and "现在开电子发票" in css(d, "#preview").text
    assert INVOICE in sim.text(FOLLOWER, "能开发票吗").content  # not saved yet
    css(d, "#answer-save").click()
    wait(d, lambda dd: "回答已保存" in dd.page_source)
    d.save_screenshot(str(shots_dir / "23-faq-entry.png"))
    assert sim.text(FOLLOWER, "能开发票吗").content == NEW_ANSWER
    assert sim2.text(FOLLOWER, "能开发票吗").content == NEW_ANSWER

    # A broken placeholder is refused with a message; the old text stays.
    open_page(d, base + "/console/texts", "回复文字")
    d.save_screenshot(str(shots_dir / "24-texts.png"))
    open_page(d, base + "/console/texts/fallback", "能用的占位符")
    saved = css(d, "#saved-text").text
    box = css(d, "#text")
    box.clear()
    box.send_keys("这个我还不会，试试 {topic}")
    css(d, "#text-save").click()
    wait(d, lambda dd: dd.find_elements("css selector", "#text-problem"))
    assert "不认识的占位符 {topic}" in css(d, "#text-problem").text
    assert css(d, "#saved-text").text == saved
    d.save_screenshot(str(shots_dir / "25-text-refused.png"))
    assert sim2.text(FOLLOWER, UNMATCHED).content == fallback

    # The menu as WeChat shows it, pushed to the (local) WeChat API.
    open_page(d, base + "/console/menu", "粉丝看到的样子")
    assert "密码" in css(d, "#menu-bar").text
    d.save_screenshot(str(shots_dir / "26-menu.png"))
    css(d, "#menu-push").click()
    wait(d, lambda dd: "菜单已推送" in dd.page_source)
    [pushed] = wechat_api.calls(MENU_CREATE)
    assert json.loads(pushed.body)["button"][0]["key"] == "PASSWORD"
    css(d, "#logout").click()
    wait(d, lambda dd: dd.current_url.endswith("/console/login"))

    # Support: the unmatched list read-only, the FAQ a 403 page.
    sim.text(FOLLOWER, "完全没有的问题呀")
    sign_in(d, base, SUPPORT_NAME, SUPPORT_PASSWORD)
    open_page(d, base + "/console/unmatched", "完全没有的问题呀")
    assert not d.find_elements("css selector", "button.teach-button, button.dismiss")
    d.save_screenshot(str(shots_dir / "27-unmatched-support.png"))
    d.get(base + "/console/faq")
    wait(d, lambda dd: "没有权限" in dd.page_source)
    assert len(list(shots_dir.glob("2*.png"))) >= 7
