"""One zone everywhere a person reads: bot.yaml's top-level ``timezone`` (``password.timezone`` is its
deprecated alias) for tickets' ids and dates, the follower's 工单 list, staff commands, the CLI, the
console and the password's validity; every such time says its zone. Logs are UTC (tests/test_logs.py)."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from helpers.env import SUPPORT
from helpers.tickets import OPENID, only_ticket
from wxbot.cli import CliContext, main
from wxbot.console.labels import when
from wxbot.policy import load_bot_config
from wxbot.settings import ConfigError

ZONE = "America/Sao_Paulo"  # UTC-3 all year (no DST since 2019): never the shipped UTC+8


@pytest.fixture
def config_dir(config_dir):
    path = config_dir / "bot.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\ntimezone: Asia/Shanghai\n" in text
    path.write_text(text.replace("\ntimezone: Asia/Shanghai\n", f"\ntimezone: {ZONE}\n"), encoding="utf-8")
    return config_dir


def test_shipped_bot_yaml_has_one_top_level_zone(config_dir):
    cfg = load_bot_config(config_dir)
    assert cfg.timezone == ZONE and cfg.zone == ZoneInfo(ZONE)
    assert "timezone" not in type(cfg.password).model_fields


def test_password_timezone_is_a_deprecated_alias_with_one_warning(tmp_path, caplog):
    (tmp_path / "bot.yaml").write_text("password:\n  timezone: Asia/Tokyo\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="wxbot.policy"):
        cfg = load_bot_config(tmp_path)
    assert cfg.timezone == "Asia/Tokyo"
    warned = [r.getMessage() for r in caplog.records if r.name == "wxbot.policy"]
    assert len(warned) == 1 and "password.timezone 是旧写法" in warned[0] and "`timezone:`" in warned[0]
    (tmp_path / "bot.yaml").write_text("timezone: Asia/Tokyo\npassword:\n  timezone: Asia/Tokyo\n", encoding="utf-8")
    assert load_bot_config(tmp_path).timezone == "Asia/Tokyo"  # the same value twice is fine
    (tmp_path / "bot.yaml").write_text("timezone: UTC\npassword:\n  timezone: Asia/Tokyo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="不一样：只保留 timezone"):
        load_bot_config(tmp_path)
    (tmp_path / "bot.yaml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="timezone: 没有时区 'Mars/Olympus'"):
        load_bot_config(tmp_path)


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_every_ticket_time_a_person_reads_is_in_the_one_zone(sim, services, settings, redis_client):
    sim.text(OPENID, "没收到key 订单号 E2024061512121212")
    rec = only_ticket(redis_client)
    created = datetime.fromtimestamp(float(rec["created_at"]), ZoneInfo(ZONE))
    shown = created.strftime("%Y-%m-%d %H:%M") + " (UTC-3)"
    assert rec["id"].startswith(created.strftime("%y%m%d") + "-")  # the id carries the zone's date
    assert shown in sim.text(OPENID, "工单").content  # the follower's 工单 list
    assert shown in sim.text(SUPPORT, "#工单").content  # staff: the list...
    assert shown in sim.text(SUPPORT, f"#工单 {rec['id']}").content  # ...and one ticket
    out = CliRunner().invoke(main, ["tickets", "list"], obj=CliContext(settings, services))
    assert out.exit_code == 0 and shown in out.output, out.output
    out = CliRunner().invoke(main, ["tickets", "show", rec["id"]], obj=CliContext(settings, services))
    assert shown in out.output, out.output
    assert when(rec["created_at"], services.bot.zone) == shown  # the console
    assert "UTC+8" not in sim.text(SUPPORT, f"#工单 {rec['id']}").content


def test_password_validity_and_schedule_use_the_one_zone(services):
    from wxbot.bot import build_features

    pw = build_features(services).password.passwords
    assert pw.schedule.tz == ZoneInfo(ZONE)
    assert pw.display_time(1764590700) == "2025-12-01 09:05 (UTC-3)"  # 12:05 UTC
