"""The dashboard in a real headless Chromium (375 px wide): a real wxbot HTTP server, the real Redis and
worker loop; the test sends follower messages through the real webhook and reads the charts' numbers
back from the page's SVG. Screenshots go to the run's output folder (tests/output/console-<time>/dashboard_browser/).

Waits poll for a condition (WebDriverWait); nothing sleeps for timing. The numbers are read from the
7-day chart, which holds the messages whatever the hour (also across midnight)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers.browser import CHROMEDRIVER, CHROMIUM, css, full_page, sign_in, wait
from helpers.console import ADMIN_NAME, ADMIN_PASSWORD, SECRET_KEY, SUPPORT_NAME, SUPPORT_PASSWORD
from helpers.env import edit_bot_yaml, internals_env
from helpers.tickets import TICKET_INTERNALS, TICKET_POLICY, WORKER_INTERNALS
from wxbot.testing import WeChatSimulator, httpx_transport

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                                       "chromium-driver); CI installs them")

LEGEND = """return Array.from(document.querySelectorAll(arguments[0] + ' g.legend'))
  .map(g => [g.getAttribute('data-series'), Number(g.getAttribute('data-total'))]);"""


@pytest.fixture
def env_overrides() -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY,
            **internals_env(tickets=TICKET_INTERNALS, worker={**WORKER_INTERNALS, "heartbeat_interval": 0.2})}


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    edit_bot_yaml(config_dir, "tickets", TICKET_POLICY)
    return config_dir


def test_the_dashboard_charts_show_the_messages_sent_and_support_gets_403(live, worker, browser, settings,
                                                                         shots_dir):
    shots = shots_dir
    base = live.url
    sim = WeChatSimulator(httpx_transport(base), settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id)
    d = browser

    sign_in(d, base, ADMIN_NAME, ADMIN_PASSWORD)
    assert d.current_url.endswith("/console/dashboard")  # the admins' home
    assert d.execute_script(LEGEND, "#chart-routes") == [["密码", 0], ["常见问题", 0], ["AI 回答", 0], ["工单", 0],
                                                         ["兜底回复", 0], ["其他", 0]]

    assert sim.text("oDashBrowser000000000000001", "密码").content
    assert sim.text("oDashBrowser000000000000001", "如何购买 API-Key？").content
    assert sim.text("oDashBrowser000000000000002", "今天晚饭吃什么比较好呢朋友们").content
    assert sim.text("oDashBrowser000000000000003", "钱扣了没收到key").content
    assert "已为你登记工单" in sim.text("oDashBrowser000000000000003", "E2024061500001111").content

    d.get(base + "/console/dashboard")
    wait(d, lambda dd: dd.find_elements("css selector", "#health-worker.ok"))  # the worker's heartbeat
    full_page(d, shots / "20-dashboard-today.png")
    css(d, "#period-7").click()
    wait(d, lambda dd: dd.current_url.endswith("period=7"))
    assert dict(d.execute_script(LEGEND, "#chart-routes")) == {"密码": 1, "常见问题": 2, "AI 回答": 0, "工单": 2,
                                                               "兜底回复": 0, "其他": 0}
    assert dict(d.execute_script(LEGEND, "#chart-faq")) == {"答上了": 1, "没答上": 1, "反问或寒暄": 0}
    assert d.execute_script("return document.querySelector('#chart-faq > title').textContent") \
        == "最近 7 天常见问题的回答率：50%"
    assert dict(d.execute_script(LEGEND, "#chart-new-tickets")) == {"新工单": 1}
    bar_titles = d.execute_script("return Array.from(document.querySelectorAll('#chart-routes rect.bar title'))"
                                  ".map(t => t.textContent);")
    assert any(t.endswith("工单：2 条") for t in bar_titles), bar_titles
    assert css(d, "#chart-open-count").text.startswith("待处理的工单：1 个")
    assert "正常" in css(d, "#health-redis").text
    # Readable on the phone: nothing wider than the 375 px screen.
    assert d.execute_script("return document.documentElement.scrollWidth") <= 375
    assert d.execute_script("return document.querySelector('#chart-routes').getBoundingClientRect().width") <= 375
    full_page(d, shots / "21-dashboard-7-days.png")
    css(d, "#logout").click()
    wait(d, lambda dd: dd.current_url.endswith("/console/login"))

    sign_in(d, base, SUPPORT_NAME, SUPPORT_PASSWORD)
    assert d.current_url.endswith("/console/tickets")  # support keeps its home
    assert "概览" not in css(d, "header").text
    d.get(base + "/console/dashboard")
    wait(d, lambda dd: "没有权限" in dd.page_source)
    assert not d.find_elements("css selector", "svg.chart")
    d.save_screenshot(str(shots / "22-dashboard-support-403.png"))
    assert len(list(shots.glob("2*.png"))) == 3
