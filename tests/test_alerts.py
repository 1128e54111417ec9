"""Admin alerts: queued once per incident, delivered by the worker to the WeCom robot and as
customer-service messages to admins, retried per channel, and Redis outages told once."""
from __future__ import annotations

import json
import logging
import shutil

import pytest

from helpers.alerts import PREFIX, admin_texts, assert_no_secrets, deliver_alerts, robot_texts
from helpers.env import ADMIN, CONFIG_DIR, internals_env
from wxbot import alerts
from wxbot.alerts import AlertTask, alert
from wxbot.bot import build_features
from wxbot.services import build_services
from wxbot.worker import Worker

WECOM = "/cgi-bin/webhook/send"
CS = "/cgi-bin/message/custom/send"
KEY = "robot-key-5f1c0b9e"


@pytest.fixture
def config_dir(tmp_path):
    dest = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dest)
    bot = dest / "bot.yaml"
    text = bot.read_text(encoding="utf-8")
    assert "redis_down_after: 60 " in text
    text = text.replace("redis_down_after: 60 ", "redis_down_after: 5 ")
    bot.write_text(text, encoding="utf-8")
    return dest


@pytest.fixture
def env_overrides(wechat_api):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "TOKEN1", "expires_in": 7200}))
    return {"WXBOT_WECOM_WEBHOOK_URL": f"{wechat_api.url}{WECOM}?key={KEY}",
            **internals_env(alerts={"retry_delay": 0.2, "max_attempts": 3})}


def task_of(services) -> AlertTask:
    return next(t for t in build_features(services).worker_tasks() if t.name == "alerts")


def test_alert_is_queued_once_per_cooldown(services, redis_client):
    assert alert(services, "dead_letter", "t1", "工单 t1 投递失败") is True
    assert alert(services, "dead_letter", "t1", "工单 t1 投递失败") is False
    assert alert(services, "dead_letter", "t2", "工单 t2 投递失败") is True
    assert redis_client.llen(alerts.QUEUE_KEY) == 2
    redis_client.delete(alerts.sent_key("dead_letter", "t1"))  # cooldown over
    assert alert(services, "dead_letter", "t1", "again") is True


def test_worker_delivers_to_wecom_and_admins_once(services, wechat_api, redis_client, caplog):
    caplog.set_level(logging.DEBUG)
    alert(services, "sync_failing", "nextchat", "NextChat 密码同步已连续失败 5 次")
    worker = Worker(services, build_features(services).worker_tasks())
    assert any(t.name == "alerts" for t in worker.tasks)
    worker.run(max_loops=3)
    wecom = wechat_api.calls(WECOM)
    assert len(wecom) == 1
    assert wecom[0].query["key"] == [KEY]
    assert wecom[0].json() == {"msgtype": "text", "text": {"content": "【wxbot 告警】NextChat 密码同步已连续失败 5 次"}}
    cs = wechat_api.calls(CS)
    assert [c.json()["touser"] for c in cs] == [ADMIN]
    assert cs[0].query["access_token"] == ["TOKEN1"]
    assert cs[0].json()["text"]["content"].endswith("连续失败 5 次")
    assert redis_client.llen(alerts.QUEUE_KEY) == 0 and redis_client.zcard(alerts.LEASE_KEY) == 0
    worker.run(max_loops=2)
    assert len(wechat_api.calls(WECOM)) == 1 and len(wechat_api.calls(CS)) == 1
    logs = caplog.text
    assert KEY not in logs and ADMIN not in logs and "TOKEN1" not in logs


def wall_clock():
    import time

    clock = FakeClock()
    clock.now = time.time()
    return clock


def test_failed_channel_is_retried_without_resending_to_the_others(services, wechat_api, redis_client):
    answers = iter([(502, "bad gateway"), (200, {"errcode": -1, "errmsg": "system busy"}),
                    (200, {"errcode": 0, "errmsg": "ok"})])
    wechat_api.on(WECOM, lambda req: next(answers))
    alert(services, "dead_letter", "t9", "工单 t9 进入死信")
    wall = wall_clock()
    task = AlertTask(services, wall=wall)
    assert task.tick() is True  # attempt 1: WeCom 502, admin ok
    assert len(wechat_api.calls(CS)) == 1
    assert redis_client.zcard(alerts.LEASE_KEY) == 1
    assert task.tick() is False  # not due yet
    wall.now += 0.25
    assert task.tick() is True  # attempt 2: WeCom errcode -1 (busy)
    wall.now += 0.25
    assert task.tick() is True  # attempt 3: delivered
    assert len(wechat_api.calls(WECOM)) == 3
    assert len(wechat_api.calls(CS)) == 1  # the admin got it once
    assert redis_client.zcard(alerts.LEASE_KEY) == 0 and redis_client.llen(alerts.QUEUE_KEY) == 0


def test_alert_is_dropped_after_max_attempts_and_permanent_errors_are_not_retried(services, wechat_api,
                                                                                redis_client, caplog):
    wechat_api.on(WECOM, lambda req: (503, "down"))
    wechat_api.on(CS, lambda req: (200, {"errcode": 45015, "errmsg": "response out of time limit"}))
    alert(services, "dead_letter", "t3", "x")
    wall = wall_clock()
    task = AlertTask(services, wall=wall)
    for _ in range(3):
        assert task.tick() is True
        wall.now += 0.25
    assert task.tick() is False
    assert len(wechat_api.calls(WECOM)) == 3  # max_attempts
    assert len(wechat_api.calls(CS)) == 1  # 45015 (48-hour window) is not retried
    assert "48 hours" in caplog.text and "dropped after 3 attempts" in caplog.text
    assert redis_client.zcard(alerts.LEASE_KEY) == 0


def test_alert_claimed_by_a_crashed_worker_is_delivered_after_its_lease(services, wechat_api, redis_client):
    import time

    alert(services, "dead_letter", "t4", "worker crashed mid-delivery")
    now = time.time()
    # A worker claims it and dies: its lease ends in the past from the next worker's point of view.
    item = redis_client.eval(alerts._CLAIM, 2, alerts.QUEUE_KEY, alerts.LEASE_KEY, str(now), str(now - 1))
    assert json.loads(item)["key"] == "t4"
    assert task_of(services).tick() is True
    assert len(wechat_api.calls(WECOM)) == 1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def spare_services(settings, spare_redis):
    svc = build_services(settings.replace(redis_url=spare_redis.url))
    yield svc
    svc.close()


@pytest.mark.parametrize("how", ["hung", "stopped"])
def test_redis_outage_is_told_once_and_recovery_once(spare_services, spare_redis, wechat_api, how):
    clock = FakeClock()
    task = AlertTask(spare_services, clock=clock)
    assert task.tick() is False  # nothing queued, Redis fine
    if how == "hung":
        spare_redis.pause()
    else:
        spare_redis.stop()
    for _step in range(12):  # 12 ticks over 11 s of an outage (redis_down_after is 5 s)
        assert task.tick() is False
        clock.now += 1.0
    wecom = wechat_api.calls(WECOM)
    assert len(wecom) == 1
    assert "Redis 已连续 5 秒无法连接" in wecom[0].json()["text"]["content"]
    cs = wechat_api.calls(CS)
    assert len(cs) == 1 and cs[0].json()["touser"] == ADMIN
    # With Redis down the token came straight from stable_token, without invalidating the live one.
    assert cs[0].query["access_token"] == ["TOKEN1"]
    assert wechat_api.calls("/cgi-bin/stable_token")[0].json()["force_refresh"] is False
    if how == "hung":
        spare_redis.resume()
        clock.now += 1.0
        task.tick()  # Redis back: a recovery note is queued and delivered
        task.tick()
        assert len(wechat_api.calls(WECOM)) == 2
        assert "已恢复" in wechat_api.calls(WECOM)[1].json()["text"]["content"]
        assert task.down_since is None and task.told_down is False


def test_short_blip_is_not_told(spare_services, spare_redis, wechat_api):
    clock = FakeClock()
    task = AlertTask(spare_services, clock=clock)
    spare_redis.pause()
    try:
        for _ in range(3):
            task.tick()
            clock.now += 1.0
    finally:
        spare_redis.resume()
    task.tick()
    assert task.down_since is None
    assert wechat_api.calls(WECOM) == [] and wechat_api.calls(CS) == []


# -- the words admins get, kind by kind (tests/helpers/alerts.py reads them back from the stand-ins) --

def texts_yaml(services, key: str, **values) -> str:
    return PREFIX + services.texts.get().render(key, **values)


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_the_aes_mismatch_alert_says_what_to_copy_where_without_the_key(services, settings, wechat_api):
    watch = alerts.DecryptWatch(services)
    assert [watch.failed() for _ in range(3)] == [False, False, True]  # webhook.aes_mismatch_after
    texts = deliver_alerts(services, wechat_api, wechat_api, ADMIN)
    assert texts == [
        "【wxbot 告警】最近 10 分钟内有 3 条签名正确的消息无法解密，且没有一条解密成功：服务器上的 EncodingAESKey"
        "（WECHAT_ENCODING_AES_KEY）与公众号后台“基本配置 > 服务器配置”中的不一致。粉丝现在收不到任何回复。"
        "请从后台重新复制 EncodingAESKey，改好后重启 wxbot（运行 wxbot doctor 可以检查）。"]
    assert settings.wechat_encoding_aes_key
    assert_no_secrets(texts[0], settings, "TOKEN1")


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_the_redis_emptied_alert_names_what_may_be_lost(services, settings, wechat_api, redis_client):
    clock = FakeClock()
    marker = alerts.RedisMarkerTask(services, clock=clock)
    marker.tick()  # marks this Redis
    redis_client.flushdb()  # Redis restarted empty
    clock.now += services.internals.alerts.marker_check_interval
    marker.tick()
    texts = deliver_alerts(services, wechat_api, wechat_api, ADMIN)
    assert texts == [texts_yaml(services, "alerts.redis_emptied")]
    assert texts[0].startswith("【wxbot 告警】Redis 里的数据不见了（Redis 重启后没有恢复数据，或换成了新的实例）") \
        and "appendonly yes" in texts[0] and "wxbot password rotate" in texts[0]
    assert_no_secrets(texts[0], settings, "TOKEN1")


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_the_redis_outage_and_recovery_alerts_word_for_word(spare_services, spare_redis, settings, wechat_api):
    clock = FakeClock()
    task = AlertTask(spare_services, clock=clock)
    task.tick()
    spare_redis.pause()
    try:
        for _ in range(7):  # told once redis_down_after (5 s) has passed
            task.tick()
            clock.now += 1.0
    finally:
        spare_redis.resume()
    clock.now += 3.0
    task.tick()  # back 9 s after the first failed ping: the recovery note is queued and delivered at once
    texts = robot_texts(wechat_api)
    assert texts == [
        "【wxbot 告警】Redis 已连续 5 秒无法连接。粉丝仍能收到常见问题的回答，但领密码、登记订单问题会提示“稍后再试”。"
        "请检查 Redis 服务（运行 wxbot doctor 可以看到具体原因）。",
        "【wxbot 告警】Redis 已恢复连接（中断约 9 秒），机器人已自动恢复正常。"]
    assert admin_texts(wechat_api, ADMIN) == texts
    for text in texts:
        assert_no_secrets(text, settings, "TOKEN1", spare_redis.url)
