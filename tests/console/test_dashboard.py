"""The dashboard page (admins' console home): charts from the counters, tickets, password, alerts and
health; support gets 403. Messages go through the real dispatch at the console's clock."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpers.env import edit_bot_yaml
from wxbot.alerts import RECENT_MAX, alert, recent_alerts
from wxbot.testing import WeChatSimulator, flask_transport
from wxbot.wechat.endpoint import dispatch
from wxbot.wechat.protocol import to_message
from wxbot.worker import HeartbeatTask

ZONE = ZoneInfo("Asia/Shanghai")  # bot.yaml's default timezone
SVG = "{http://www.w3.org/2000/svg}"
A, B, C = "oDashFollower00000000000001", "oDashFollower00000000000002", "oDashFollower00000000000003"


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    edit_bot_yaml(config_dir, "password", {"schedule_every_hours": 6, "schedule_cron": None})
    return config_dir


def send(app, settings, openid: str, text: str, now: float) -> str | None:
    sim = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token)
    bot = app.extensions["wxbot"]
    reply, _ctx = dispatch(bot.services, bot.router, to_message({k: str(v) for k, v in sim.text_fields(openid, text).items()}), now=now)
    return reply


def charts_of(html: str) -> dict[str, ET.Element]:
    out = {}
    for markup in re.findall(r"<svg .*?</svg>", html, flags=re.S):
        svg = ET.fromstring(markup)
        out[svg.get("id")] = svg
    return out


def legend(svg: ET.Element) -> dict[str, int]:
    return {g.get("data-series"): int(g.get("data-total")) for g in svg.iter(SVG + "g") if g.get("class") == "legend"}


def bars(svg: ET.Element) -> dict[tuple[str, str], int]:
    return {(r.get("data-series"), r.get("data-label")): int(r.get("data-value")) for r in svg.iter(SVG + "rect")
            if r.get("class") == "bar"}


def test_the_charts_show_todays_messages_by_route_faq_rate_and_tickets(app, settings, admin, clock):
    now = clock.now
    hour = f"{datetime.fromtimestamp(now, ZONE).hour}时"
    send(app, settings, A, "密码", now)
    send(app, settings, A, "如何购买 API-Key？", now)
    send(app, settings, B, "今天晚饭吃什么比较好呢朋友们", now)
    send(app, settings, C, "钱扣了没收到key", now)
    assert "已为你登记工单" in (send(app, settings, C, "E2024061500001111", now) or "")
    html = admin.get("/console/dashboard").get_data(as_text=True)
    found = charts_of(html)
    assert legend(found["chart-routes"]) == {"密码": 1, "常见问题": 2, "AI 回答": 0, "工单": 2, "兜底回复": 0, "其他": 0}
    assert bars(found["chart-routes"])[("工单", hour)] == 2
    assert legend(found["chart-faq"]) == {"答上了": 1, "没答上": 1, "反问或寒暄": 0}
    assert found["chart-faq"].find(SVG + "title").text == "今天常见问题的回答率：50%"
    assert '<span id="faq-rate">50%</span>' in html
    assert legend(found["chart-new-tickets"]) == {"新工单": 1}
    open_rows = {g.get("data-label"): int(g.get("data-value")) for g in found["chart-open"].iter(SVG + "g")
                 if g.get("class") == "row"}
    assert open_rows["1 小时内"] == 1 and sum(open_rows.values()) == 1
    assert '<h3 id="chart-open-count">待处理的工单：1 个，最久的已等 不到 1 分钟</h3>' in html
    assert '<h3 id="chart-held-count">暂缓发给客服的工单：0 个</h3>' in html and "chart-held" not in found
    summary = re.findall(r'<tr data-period="([^"]+)"><th>[^<]+</th><td class="messages">(\d+)</td>', html)
    assert summary == [("今天", "5"), ("最近 7 天", "5"), ("最近 30 天", "5")]


def test_the_seven_and_thirty_day_charts_put_older_days_in_their_own_bar(app, settings, admin, clock):
    three_days_ago = clock.now - 3 * 86400
    send(app, settings, A, "密码", three_days_ago)
    send(app, settings, A, "密码", clock.now)
    label = "{d.month}/{d.day}".format(d=datetime.fromtimestamp(three_days_ago, ZONE))
    today = "{d.month}/{d.day}".format(d=datetime.fromtimestamp(clock.now, ZONE))
    for period in ("7", "30"):
        found = charts_of(admin.get(f"/console/dashboard?period={period}").get_data(as_text=True))
        assert bars(found["chart-routes"]) == {("密码", label): 1, ("密码", today): 1}
    today_only = charts_of(admin.get("/console/dashboard?period=today").get_data(as_text=True))
    assert legend(today_only["chart-routes"])["密码"] == 1
    unknown = admin.get("/console/dashboard?period=999")
    assert unknown.status_code == 200 and 'aria-current="page">今天' in unknown.get_data(as_text=True)


def test_support_gets_403_and_keeps_the_tickets_as_home(support, admin):
    assert support.get("/console/dashboard").status_code == 403
    assert support.get("/console/").headers["Location"].endswith("/console/tickets")
    assert admin.get("/console/").headers["Location"].endswith("/console/dashboard")
    assert "概览" not in support.get("/console/tickets").get_data(as_text=True)
    assert 'href="/console/dashboard">概览' in admin.get("/console/tickets").get_data(as_text=True)


def test_password_state_and_next_rotation(app, admin, clock):
    pw = app.extensions["wxbot"].features.password.passwords
    pw.rotate("console", "console:boss", now=clock.now)
    html = admin.get("/console/dashboard").get_data(as_text=True)
    nxt = pw.display_time(pw.schedule.next_after(clock.now))
    assert re.search(r'id="next-rotation">' + re.escape(nxt) + "<", html)
    assert "第 1 版" in html and 'id="dash-sync">未开启同步' in html


def test_recent_alerts_are_listed_newest_first_escaped_and_capped(app, services, admin):
    for i in range(RECENT_MAX + 2):
        assert alert(services, "test", f"k{i}", f"提醒 {i} <b>注意</b>")
    kept = recent_alerts(services.redis)
    assert len(kept) == RECENT_MAX and kept[0]["message"] == f"提醒 {RECENT_MAX + 1} <b>注意</b>"
    html = admin.get("/console/dashboard").get_data(as_text=True)
    assert f"提醒 {RECENT_MAX + 1} &lt;b&gt;注意&lt;/b&gt;" in html and "<b>注意</b>" not in html


def test_health_shows_redis_and_whether_a_worker_beats(app, services, admin, clock):
    def worker_line() -> str:
        html = admin.get("/console/dashboard").get_data(as_text=True)
        return re.search(r'id="health-worker" class="(\w+)"><span class="state">[^<]+</span> ([^<]+)<', html).groups()

    assert 'id="health-redis" class="ok">' in admin.get("/console/dashboard").get_data(as_text=True)
    cls, text = worker_line()
    assert cls == "bad" and "还没有后台进程" in text
    beat = HeartbeatTask(services, clock=clock)
    beat.tick()
    cls, text = worker_line()
    assert cls == "ok" and "1 个在运行" in text
    clock.advance(5)
    assert beat.tick() is False  # within the interval: nothing written
    clock.advance(31 * services.internals.worker.heartbeat_interval)
    cls, text = worker_line()
    assert cls == "bad" and "没有在运行的后台进程" in text
