"""``wxbot texts list|show|set|undo|export`` on the real Redis: the console's checks (refused in
Chinese, exit 1, nothing stored), audited like the console's edits, and a web process answers with
an edit at its next check."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from wxbot import create_app
from wxbot.cli import CliContext, main
from wxbot.defaults import Internals
from wxbot.services import build_services
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator, flask_transport

OPENID = "oTextsCliFollower000000000001"
NAME = "menu.unknown"


@pytest.fixture
def run(settings, services):
    def invoke(*args: str):
        return CliRunner().invoke(main, ["texts", *args], obj=CliContext(settings, services))

    return invoke


@pytest.fixture
def web(settings):
    """Another process's app on the same Redis, checking the texts' version on every reply."""
    svc = build_services(settings, internals=Internals().override({"webhook": {"config_reload_interval": 0}}))
    app = create_app(svc.settings, svc)
    app.testing = True
    sim = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token, settings.aes_key_bytes,
                          settings.wechat_app_id)
    yield sim
    svc.close()


def audit(redis_client) -> list[dict]:
    return [fields for _, fields in redis_client.xrange(keys.AUDIT_LOG)]


def test_a_set_is_answered_at_once_by_a_web_process_and_undo_steps_back(run, web, services, redis_client):
    original = services.texts.file_texts().get(NAME)
    assert web.click(OPENID, "NO_SUCH_KEY").content == original
    out = run("set", NAME, "菜单还在准备中，请直接发问题。")
    assert out.exit_code == 0, out.output
    assert web.click(OPENID, "NO_SUCH_KEY").content == "菜单还在准备中，请直接发问题。"
    assert run("set", NAME, "第二版").exit_code == 0
    shown = run("show", NAME)
    assert shown.exit_code == 0 and shown.output.startswith("第二版\n")
    assert "由 cli 于" in shown.output and "(UTC+8)" in shown.output and original in shown.output
    listed = {ln.split("\t")[0]: ln.split("\t") for ln in run("list").output.splitlines()}
    assert listed[NAME][2] == "edited" and listed["fallback"] == ["fallback", "{topics}", "file"]
    assert set(listed) == set(services.texts.file_texts().keys())

    out = run("undo", NAME)
    assert out.exit_code == 0 and "菜单还在准备中" in out.output
    assert web.click(OPENID, "NO_SUCH_KEY").content == "菜单还在准备中，请直接发问题。"
    assert run("undo", NAME, "--all").exit_code == 0
    assert web.click(OPENID, "NO_SUCH_KEY").content == original
    out = run("undo", NAME)
    assert out.exit_code == 1 and "没有改过" in out.output
    assert [(a["actor"], a["action"], a["target"]) for a in audit(redis_client)] == [
        ("cli", "text.edit", NAME), ("cli", "text.edit", NAME), ("cli", "text.undo", NAME),
        ("cli", "text.reset", NAME)]
    assert audit(redis_client)[0]["detail"].startswith("菜单还在准备中")


@pytest.mark.parametrize("name, text, reason", [
    ("fallback", "抱歉，可以试试：{topic}", "不认识的占位符 {topic}，这段文字能用的是：{topics}。"),
    ("fallback", "抱歉 {topics", "占位符写法不对"),
    (NAME, "菜单 {x}", "这段文字能用的是：不能用占位符。"),
    (NAME, "  \n ", "文字不能是空的。"),
    (NAME, "长" * 683, "文字太长（2049 字节），微信一条消息最多 2048 字节。"),
    ("no.such.text", "你好", "没有“no.such.text”这段文字"),
])
def test_a_set_the_console_would_refuse_is_refused_in_chinese(run, redis_client, name, text, reason):
    out = run("set", name, text)
    assert out.exit_code == 1 and reason in out.output, out.output
    assert redis_client.hlen(keys.text_overrides()) == 0 and audit(redis_client) == []


def test_the_longest_text_wechat_takes_is_saved(run, redis_client):
    assert run("set", NAME, "长" * 682 + "ab").exit_code == 0  # 2048 bytes
    assert redis_client.hlen(keys.text_overrides()) == 1


def test_export_writes_texts_yaml_with_the_edits_and_its_comments(run, config_dir, tmp_path):
    assert run("set", NAME, "菜单还在准备中。").exit_code == 0
    target = tmp_path / "texts.yaml"
    out = run("export", str(target))
    assert out.exit_code == 0, out.output
    text = target.read_text(encoding="utf-8")
    source = (config_dir / "texts.yaml").read_text(encoding="utf-8")
    exported, original = yaml.safe_load(text), yaml.safe_load(source)
    assert exported["menu"]["unknown"] == "菜单还在准备中。"
    exported["menu"]["unknown"] = original["menu"]["unknown"]
    assert exported == original  # nothing else changed
    assert "# Admin-facing alerts" in text  # the comments are kept
    assert run("export").output == text  # stdout: the same file
