"""What admins actually receive: the worker's alert task delivers the queued alerts to the real local
stand-ins (the WeCom robot and WeChat's customer-service API), and the texts are read back there."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from helpers.servers import LocalHTTPServer
from helpers.tickets import CS_PATH, ROBOT_PATH, Clock
from wxbot import alerts
from wxbot.alerts import AlertTask

PREFIX = "【wxbot 告警】"


def robot_texts(robot: LocalHTTPServer) -> list[str]:
    """The alerts the WeCom robot got (text messages with the alerts' prefix; tickets go as markdown)."""
    out = []
    for call in robot.calls(ROBOT_PATH):
        body = call.json()
        if body.get("msgtype") == "text" and body["text"]["content"].startswith(PREFIX):
            out.append(body["text"]["content"])
    return out


def admin_texts(api: LocalHTTPServer, admin: str) -> list[str]:
    """The customer-service texts one admin got."""
    return [c.json()["text"]["content"] for c in api.calls(CS_PATH) if c.json().get("touser") == admin]


def deliver_alerts(services, robot: LocalHTTPServer, api: LocalHTTPServer, admin: str) -> list[str]:
    """Run the worker's alert task until nothing is queued or leased (its wall clock jumps past each
    retry delay, never sleeping); the texts the robot got, after checking the admin got the same."""
    clock = Clock()
    task = AlertTask(services, wall=clock)
    r = services.redis
    for _ in range(50):
        task.tick()
        if not r.llen(alerts.QUEUE_KEY) and not r.zcard(alerts.LEASE_KEY):
            break
        clock.advance(services.internals.alerts.retry_delay + 1)
    else:
        raise AssertionError("alerts still queued after 50 ticks")
    texts = robot_texts(robot)
    assert admin_texts(api, admin) == texts  # both channels got the same words
    return texts


def secrets_of(settings) -> list[str]:
    """Every secret in the settings (and the robot's key in its URL) plus the configured openids:
    none may appear in an alert."""
    values = [settings.wechat_token, settings.wechat_app_secret, settings.wechat_encoding_aes_key,
              settings.admin_token, settings.secret_key, settings.password_sync_secret,
              settings.ticket_webhook_secret, settings.ai_api_key, settings.s3_secret_key,
              *settings.admin_openids, *settings.support_openids]
    for url in (settings.wecom_webhook_url, settings.ticket_webhook_url, settings.password_sync_url):
        if url:
            values += [v for vs in parse_qs(urlsplit(url).query).values() for v in vs]
    return [v for v in values if v]


def assert_no_secrets(text: str, settings, *more: str) -> None:
    leaked = [s for s in [*secrets_of(settings), *more] if s and s in text]
    assert not leaked, f"secret(s) in an alert: {text}"
