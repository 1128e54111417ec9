"""【密码】 for followers, admins (chat, HTTP API, CLI) and the atomic rotation, on a real Redis.

Sync to NextChat is off here (no WXBOT_PASSWORD_SYNC_URL): rotations are visible at once. The sync
path has its own module, test_sync.py; the fixtures are in conftest.py.
"""
from __future__ import annotations

import concurrent.futures
import json
import time

import pytest
import yaml
from click.testing import CliRunner

from helpers.env import ADMIN, CONFIG_DIR, SUPPORT, make_env
from helpers.password import OPENID, OTHER, SITE, is_password_reply, text_msg
from wxbot.cli import CliContext, main
from wxbot.policy import PasswordPolicy
from wxbot.router import Ctx
from wxbot.settings import Settings
from wxbot.textnorm import normalise
from wxbot.wechat.protocol import Message

# -- followers ----------------------------------------------------------------------------------

def test_no_password_yet_gets_a_friendly_text(sim, services):
    texts = services.texts.get()
    assert sim.text(OPENID, "密码").content == texts.render("password.none")
    assert sim.click(OPENID, "PASSWORD").content == texts.render("password.none")


def test_menu_click_gets_password_valid_until_and_fast_link(sim, pw):
    rot, password = pw.rotate("cli", "cli", "Pass-Word.99")
    reply = sim.click(OPENID, "PASSWORD").content
    assert is_password_reply(reply, "Pass-Word.99")
    assert f"网址：{SITE}" in reply
    assert f"{SITE}/#/?code=Pass-Word.99" in reply
    assert "有效期至：" + pw.services.texts.get().render("password.no_expiry") in reply
    assert rot.version == 1


@pytest.mark.parametrize("pwcfg", [{"schedule_cron": "0 0 * * *"}], indirect=True)
@pytest.mark.parametrize("pwint", [{"valid_until_format": "%m月%d日 %H:%M"}], indirect=True)
def test_reply_states_the_next_scheduled_rotation(sim, pw):
    _, password = pw.rotate("cli", "cli")
    nxt = pw.schedule.next_after(time.time())
    reply = sim.text(OPENID, "密码").content
    assert is_password_reply(reply, password)
    assert "有效期至：" + pw.display_time(nxt) in reply and pw.display_time(nxt).endswith("00:00 (UTC+8)")


@pytest.mark.parametrize("pwcfg", [{"site_url": ""}], indirect=True)
def test_without_site_url_the_reply_has_no_link(sim, pw):
    pw.rotate("cli", "cli", "NoSite123")
    reply = sim.text(OPENID, "密码").content
    assert is_password_reply(reply, "NoSite123") and "code=" not in reply and "网址" not in reply


def test_every_configured_keyword_and_variants_get_the_password(sim, pw, services):
    pw.rotate("cli", "cli", "Kw-Test-77")
    cfg: PasswordPolicy = services.bot.password
    variants = ["  密码  ", "密码？", "密码!", "ＮｅｘｔＣｈａｔ密码", "NEXTCHAT 密码", "公益版 密码", "今天的密码是多少",
                "nextchat的密码是什么", "#密码", "求个密码", "密码。"]
    for i, word in enumerate(cfg.keywords + variants):  # one follower per word: below the cooldown
        assert is_password_reply(sim.text(f"oKeyword{i:020d}", word).content, "Kw-Test-77"), word
    assert is_password_reply(sim.voice(OPENID, "今天的密码。").content, "Kw-Test-77")


def test_other_kinds_of_password_do_not_trigger(feature):
    match = feature.matcher
    for text in ["支付密码忘了", "微信密码怎么改", "我的QQ密码被盗了怎么办", "银行卡密码", "忘记密码了",
                 "我想问一下你们的网站怎么注册账号然后设置一个新的登录密码比较安全呢", "密码" * 70, "你好", "", "购买"]:
        assert not match(text), text
    for text in ["密码", "公益版密码", "NextChat密码", "获取密码", "今天的密码", "密码不对", "ｐａｓｓｗｏｒｄ"]:
        assert match(text), text
    assert normalise("ＮｅｘｔＣｈａｔ　密码！") == "nextchat密码"


def test_keyword_matching_is_cheap(feature):
    match = feature.matcher
    samples = ["密码", "今天的密码是多少？", "支付密码忘了怎么办", "怎么购买API key呀，BASE URL是多少", "ＮｅｘｔＣｈａｔ密码"]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(400):
            for s in samples:
                match(s)
        best = min(best, (time.perf_counter() - started) / (400 * len(samples)))
    print(f"keyword match: {best * 1e6:.2f} us per message")
    assert best < 20e-6


def test_cooldown_is_counted_per_follower_in_the_claim(sim, pw, services, redis_client):
    pw.rotate("cli", "cli", "Cool-Down-1")
    texts = services.texts.get()
    for i in range(10):
        assert is_password_reply(sim.text(OPENID, "密码").content, "Cool-Down-1"), i
    cooldown = texts.render("password.cooldown", minutes=1, seconds=60)
    assert sim.text(OPENID, "密码").content == cooldown
    assert sim.click(OPENID, "PASSWORD").content == cooldown
    assert is_password_reply(sim.text(OTHER, "密码").content, "Cool-Down-1")
    key = "wxbot:rl:password:" + OPENID
    assert int(redis_client.get(key)) == 12 and 0 < redis_client.ttl(key) <= 60
    sim.unsubscribe(OPENID)  # forget hook clears the counter
    assert not redis_client.exists(key)


@pytest.mark.parametrize("pwcfg", [{"cooldown_limit": 1, "cooldown_window": 150}], indirect=True)
def test_cooldown_text_states_the_configured_window(sim, pw, services):
    pw.rotate("cli", "cli", "Window-Pass-1")
    assert is_password_reply(sim.text(OPENID, "密码").content, "Window-Pass-1")
    reply = sim.text(OPENID, "密码").content
    assert "请过 3 分钟再试" in reply and "一分钟" not in reply  # 150 s, rounded up to whole minutes
    shipped = yaml.safe_load((services.settings.config_dir / "texts.yaml").read_text(encoding="utf-8"))
    assert "{minutes}" in shipped["password"]["cooldown"]


# -- asking the FAQ way (faq.yaml entry free_password, route: password) -------------------------------

FAQ_WAY = ["公益版nextchat的密码在哪里看", "nextchat 访问码是多少呀", "免费的nextchat怎么登录要密码吗"]


def test_faq_password_route_comes_before_the_faqs_own_routes(services, bot, feature):
    names = [route.name for route in bot.router.routes]
    assert names.index("password") < names.index("faq_password") < names.index("faq_feature") < names.index("faq")
    for i, text in enumerate(FAQ_WAY):
        msg = text_msg(OPENID, text, str(555000 + i))
        ctx = Ctx(services, OPENID)
        assert not feature.matcher(text), text  # not the keyword route's
        route = bot.router.resolve(msg, ctx)
        assert route.name == "faq_password", text
        assert ctx.extra["faq.result"].entry.id == "free_password"
        keyword = next(r for r in bot.router.routes if r.name == "password")
        assert (route.needs, route.replayable, route.handle) == (keyword.needs, keyword.replayable, keyword.handle)
        assert route.needs.counter == "password" and route.needs.window == services.bot.password.cooldown_window


def test_asking_the_faq_way_has_the_cooldown_and_one_round_trip(sim, pw, services, redis_client, round_trips):
    pw.rotate("cli", "cli", "Faq-Way-Pass1")
    cooldown = services.texts.get().render("password.cooldown", minutes=1, seconds=60)
    sent, commands = round_trips
    sim.text("oWarmUp0000000000000000000001", "你好")  # a fresh Redis loads the claim script once (NOSCRIPT)
    replies = []
    for i in range(15):
        del sent[:], commands[:]
        replies.append(sim.text(OPENID, FAQ_WAY[i % len(FAQ_WAY)]).content)
        # One request, the claim script (redis-py's registered script: one EVALSHA command), nothing else.
        assert sent == ["EVALSHA"] and commands == ["EVALSHA"], (i, sent, commands)
    assert all(is_password_reply(reply, "Faq-Way-Pass1") for reply in replies[:10])
    assert replies[10:] == [cooldown] * 5
    assert int(redis_client.get("wxbot:rl:password:" + OPENID)) == 15
    # The same as typing 密码 or tapping the menu, which share the counter.
    for i in range(10):
        del sent[:]
        # (one click: an event's dedupe id is sender + CreateTime + key, so same-second clicks are one event)
        reply = (sim.text(OTHER, "密码") if i else sim.click(OTHER, "PASSWORD")).content
        assert is_password_reply(reply, "Faq-Way-Pass1") and sent == ["EVALSHA"], (i, sent)
    assert sim.text(OTHER, FAQ_WAY[0]).content == cooldown


def test_retries_count_no_metric_twice(pw, handle_message):
    """A WeChat retry re-renders a replayable reply; it is not a new cooldown hit or FAQ lookup."""
    from wxbot import metrics

    pw.rotate("cli", "cli", "Retry-Metric-1")
    limited = metrics.RATE_LIMITED.labels("password")
    faq = metrics.FAQ.labels("feature")
    for i in range(10):
        handle_message(text_msg(OPENID, "密码", str(7770000 + i)))
    msg = text_msg(OPENID, "密码", "7770100")
    before = limited._value.get()
    first, _ = handle_message(msg)
    again, ctx = handle_message(msg)
    assert first == again and "分钟" in first and ctx.claim.duplicate
    assert limited._value.get() == before + 1
    msg = text_msg(OTHER, FAQ_WAY[0], "7770200")
    before = faq._value.get()
    first, ctx = handle_message(msg)
    again, _ = handle_message(msg)
    assert ctx.route == "faq_password" and first == again and is_password_reply(first, "Retry-Metric-1")
    assert faq._value.get() == before + 1


def test_without_the_faq_feature_the_faq_route_stays_out_of_the_way(services, bot):
    from wxbot.features.password import PasswordFeature

    # The composition passes the FAQ's check in; a feature built without the FAQ's answer never matches.
    alone = PasswordFeature(services, faq_says_password=lambda msg, ctx: False)
    assert alone.faq_way.match(text_msg(OPENID, FAQ_WAY[0], "1"), Ctx(services, OPENID)) is False
    route = next(r for r in bot.router.routes if r.name == "faq_password")
    assert route.match(text_msg(OPENID, FAQ_WAY[0], "1"), Ctx(services, OPENID)) is True


# -- validity shown to followers ------------------------------------------------------------------

@pytest.mark.parametrize("pwcfg", [{"schedule_cron": "0 0 * * *"}], indirect=True)
def test_a_passed_expiry_time_is_not_repeated_to_followers(sim, pw, services, handle_message):
    long_ago = time.time() - 2 * 86400  # rotated two days ago; the scheduled rotation since was missed
    _, password = pw.rotate("cli", "cli", now=long_ago)
    shown = pw.store.state().shown
    assert shown.valid_until < time.time()
    texts = services.texts.get()
    reply = sim.text(OPENID, "密码").content
    assert is_password_reply(reply, password)
    assert shown.valid_until_display not in reply
    assert "有效期至：" + texts.render("password.expiry_overdue") in reply
    # The boundary, at the request's own clock: still valid one second before, overdue from then on.
    before, _ = handle_message(text_msg(OTHER, "密码", "8880001"), now=shown.valid_until - 1)
    at, _ = handle_message(text_msg(OTHER, "密码", "8880002"), now=shown.valid_until)
    assert "有效期至：" + shown.valid_until_display in before
    assert shown.valid_until_display not in at and texts.render("password.expiry_overdue") in at


def test_retry_of_a_delivery_replays_the_first_answer_even_after_rotation(pw, handle_message):
    pw.rotate("cli", "cli", "First-Pass-1")
    msg = Message(to_user="gh", from_user=OPENID, create_time=int(time.time()), type="text", msg_id="9876501",
                  content="密码")
    first, _ = handle_message(msg)
    pw.rotate("cli", "cli", "Second-Pass-2")
    again, _ = handle_message(msg)
    assert first == again and is_password_reply(first, "First-Pass-1")
    fresh = Message(to_user="gh", from_user=OPENID, create_time=int(time.time()), type="text", msg_id="9876502",
                    content="密码")
    assert is_password_reply(handle_message(fresh)[0], "Second-Pass-2")


def test_redis_down_gets_a_friendly_text_quickly(spare_redis, config_dir, tmp_path):
    from wxbot import create_app
    from wxbot.services import build_services
    from wxbot.testing import WeChatSimulator, flask_transport

    settings = Settings.from_env(make_env(spare_redis.url, config_dir, tmp_path / "data2"))
    services = build_services(settings)
    try:
        app = create_app(settings, services)
        feature = app.extensions["wxbot"].features.password
        feature.passwords.rotate("cli", "cli", "Down-Pass-1")
        sim = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token)
        assert is_password_reply(sim.text(OPENID, "密码").content, "Down-Pass-1")
        spare_redis.pause()
        started = time.monotonic()
        reply = sim.text(OPENID, "密码")
        elapsed = time.monotonic() - started
        assert reply.status == 200 and reply.content == services.texts.get().render("password.unavailable")
        assert elapsed < 2.0
        # The handler itself, with no claim (Redis unreachable): the same friendly text.
        assert feature.answer(reply_msg(), Ctx(services, OPENID)) == services.texts.get().render("password.unavailable")
    finally:
        spare_redis.resume()
        services.close()


def reply_msg() -> Message:
    return Message(to_user="gh", from_user=OPENID, create_time=int(time.time()), type="text", msg_id="1",
                   content="公益版密码在哪")


# -- rotation -------------------------------------------------------------------------------------

def test_generated_passwords_use_the_readable_alphabet(pw):
    seen = set()
    for _ in range(200):
        value = pw.generate()
        assert len(value) == 8 and not set(value) & set("0Oo1lI")
        seen.add(value)
    assert len(seen) == 200


def test_fifty_concurrent_rotations_give_fifty_versions_and_audit_rows(pw, redis_client):
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: pw.rotate("api", "api", f"Concurrent-{i:02d}"), range(50)))
    versions = sorted(rot.version for rot, _ in results)
    assert versions == list(range(1, 51))
    rows = pw.store.history(100)
    assert len(rows) == 50 and sorted(r.version for r in rows) == versions
    st = pw.store.state()
    assert st.version == 50 and st.shown.version == 50
    winner = dict((rot.version, value) for rot, value in results)[50]
    assert st.shown.password == winner
    assert st.previous() is not None and st.previous().version == 49  # current -> previous, atomically


def test_bad_values_are_refused(pw):
    for bad in ["short", "has space1", "comma,inside", "引号密码abc", "x" * 65]:
        with pytest.raises(ValueError):
            pw.rotate("cli", "cli", bad)
    assert pw.store.state().version == 0


# -- staff commands in WeChat ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_admin_rotates_and_shows_in_chat(sim, pw, services):
    reply = sim.text(ADMIN, "#换密码").content
    st = pw.store.state()
    assert st.version == 1 and st.shown.password in reply and "粉丝现在就能看到" in reply
    reply = sim.text(ADMIN, "#换密码 Chat-Set-88").content
    assert "Chat-Set-88" in reply and pw.store.state().shown.password == "Chat-Set-88"
    shown = sim.text(ADMIN, "#密码").content
    assert "Chat-Set-88" in shown and "第 2 版" in shown and "未开启" in shown
    assert "格式不对" in sim.text(ADMIN, "#换密码 a b").content
    assert pw.store.history(5)[0].trigger == "chat" and pw.store.history(5)[0].by.startswith("wx:")
    assert ADMIN not in pw.store.history(5)[0].by


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_non_admins_get_the_normal_reply_and_rotate_nothing(sim, pw):
    pw.rotate("cli", "cli", "Normal-Pass-1")
    for who in (OPENID, SUPPORT):
        reply = sim.text(who, "#换密码").content
        assert "格式" not in reply and "已更换" not in reply and "命令" not in reply
        assert is_password_reply(sim.text(who, "#密码").content, "Normal-Pass-1")
    assert pw.store.state().version == 1


def test_staff_commands_need_a_safe_mode_account(sim, pw):
    pw.rotate("cli", "cli", "Plain-Pass-1")
    assert is_password_reply(sim.text(ADMIN, "#换密码").content, "Plain-Pass-1")
    assert pw.store.state().version == 1


# -- admin HTTP API --------------------------------------------------------------------------------

TOKEN = "admin-token-for-tests-0123456789"


def test_admin_api_is_off_without_a_token(client):
    for method, path in [("get", "/admin/api/password"), ("post", "/admin/api/password/rotate")]:
        resp = getattr(client, method)(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 404 and resp.is_json and resp.get_json()["error"] == "not_found"


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN}], indirect=True)
def test_admin_api_refuses_wrong_tokens(client, pw):
    for i, headers in enumerate([{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN},
                                 {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"},
                                 {"Authorization": "Bearer 令牌"}]):
        for method, path in [("get", "/admin/api/password"), ("post", "/admin/api/password/rotate")]:
            resp = getattr(client, method)(path, headers=headers, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
            assert resp.status_code == 401 and resp.is_json, (headers, path)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert pw.store.state().version == 0


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN}], indirect=True)
def test_admin_api_shows_and_rotates(client, pw, sim):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = client.get("/admin/api/password", headers=auth).get_json()
    assert body["shown"] is None and body["version"] == 0 and body["sync"]["enabled"] is False
    resp = client.post("/admin/api/password/rotate", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["version"] == 1 and resp.get_json()["visible"] is True
    generated = resp.get_json()["password"]
    assert is_password_reply(sim.text(OPENID, "密码").content, generated)
    resp = client.post("/admin/api/password/rotate", headers=auth, json={"password": "Api-Set-123"})
    assert resp.get_json()["version"] == 2
    body = client.get("/admin/api/password", headers=auth).get_json()
    assert body["shown"]["password"] == "Api-Set-123" and body["previous"]["password"] == generated
    assert body["sync"]["state"] == "off"
    # Deliberate JSON errors, never HTML.
    for kwargs in [{"data": "not json", "content_type": "application/json"}, {"json": [1, 2]},
                   {"json": {"password": 12345678}}, {"json": {"password": "bad value!"}}]:
        resp = client.post("/admin/api/password/rotate", headers=auth, **kwargs)
        assert resp.status_code == 400 and resp.is_json, kwargs
    resp = client.get("/admin/api/password/rotate", headers=auth)
    assert resp.status_code == 405 and resp.is_json
    assert pw.store.state().version == 2
    assert pw.store.history(1)[0].trigger == "api"


# -- CLI -----------------------------------------------------------------------------------------

def run_cli(settings, services, *args, input=None):
    return CliRunner().invoke(main, list(args), obj=CliContext(settings, services), input=input)


def test_cli_show_set_rotate_history(settings, services, pw):
    out = run_cli(settings, services, "password", "show")
    assert out.exit_code == 0 and "还没有设置" in out.output and "同步：    关闭" in out.output
    out = run_cli(settings, services, "password", "set", "Cli-Set-001")
    assert out.exit_code == 0 and "版本 1：Cli-Set-001" in out.output and "粉丝现在就能看到" in out.output
    out = run_cli(settings, services, "password", "rotate")
    assert out.exit_code == 0 and "版本 2：" in out.output
    generated = out.output.split("版本 2：")[1].split()[0]
    assert pw.store.state().shown.password == generated
    out = run_cli(settings, services, "password", "set", input="Hidden-Pass-9\nHidden-Pass-9\n")
    assert out.exit_code == 0 and pw.store.state().shown.password == "Hidden-Pass-9"
    out = run_cli(settings, services, "password", "set", "bad value")
    assert out.exit_code == 2 and pw.store.state().version == 3
    out = run_cli(settings, services, "password", "show")
    assert "当前：    Hidden-Pass-9  （v3" in out.output and f"上一个：  {generated}" in out.output
    out = run_cli(settings, services, "password", "history")
    lines = out.output.strip().splitlines()
    assert out.exit_code == 0 and len(lines) == 3
    assert lines[0].startswith("v3") and "Hidden-Pass-9" in lines[0] and "shown" in lines[0]
    assert generated in lines[1] and "previous" in lines[1]  # still accepted (grace period)
    assert lines[2].startswith("v1") and "Cli-Set-001" in lines[2]


@pytest.mark.parametrize("pwcfg", [{"grace_seconds": 0}], indirect=True)
def test_cli_history_keeps_no_plaintext_beyond_the_grace_period(settings, services, pw):
    for value in ["Old-Pass-01", "Old-Pass-02", "New-Pass-03"]:
        pw.rotate("cli", "cli", value)
    out = run_cli(settings, services, "password", "history")
    lines = out.output.strip().splitlines()
    assert "New-Pass-03" in lines[0]
    assert "Old-Pass" not in out.output and all("已停用" in line for line in lines[1:])
    out = run_cli(settings, services, "password", "show")
    assert "上一个：  （未保留）  （v2，已过期）" in out.output and "Old-Pass" not in out.output


def test_cli_says_so_when_redis_is_down(spare_redis, config_dir, tmp_path):
    from wxbot.services import build_services

    settings = Settings.from_env(make_env(spare_redis.url, config_dir, tmp_path / "data3"))
    services = build_services(settings)
    try:
        spare_redis.stop()
        out = run_cli(settings, services, "password", "show")
        assert out.exit_code == 1 and "没有应答（连接被拒绝）" in out.output
        assert "Error" not in out.output  # no Python class names
    finally:
        services.close()


def test_shipped_config_is_consistent():
    from wxbot.policy import load_bot_config
    from wxbot.wechat.menu import load_menu

    root = CONFIG_DIR
    cfg = load_bot_config(root).password
    assert cfg.menu_key in load_menu(root / "menu.yaml").click_keys()
    texts = yaml.safe_load((root / "texts.yaml").read_text(encoding="utf-8"))["password"]
    for key in ["reply", "reply_without_site", "none", "unavailable", "cooldown", "alert_sync_failing", "no_expiry",
                "expiry_overdue"]:
        assert texts[key].strip()
    assert json.dumps(texts, ensure_ascii=False).count("{password}") >= 2
