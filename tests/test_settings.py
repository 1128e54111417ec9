"""Settings are read once from the environment and validated with one clear line per mistake."""
from __future__ import annotations

from pathlib import Path

import pytest
from wechatpy.client import WeChatClient

from helpers.env import AES_KEY, APP_ID
from wxbot import create_app
from wxbot.settings import ConfigError, Settings
from wxbot.texts import ReloadingFile, Texts


def base(**kw):
    env = {"WECHAT_TOKEN": "abc123"}
    env.update(kw)
    return env


def test_defaults():
    s = Settings.from_env(base())
    # WeChat's own API by default: the base wechatpy's client uses (no request is made here)
    assert s.wechat_api_base_url + "/cgi-bin/" == WeChatClient.API_BASE_URL
    assert s.data_dir == Path.cwd() / "var" and s.config_dir == Path.cwd() / "config"  # absolute
    assert not s.safe_mode and s.admin_openids == ()


@pytest.mark.parametrize(
    "env, variable",
    [
        ({}, "WECHAT_TOKEN"),
        ({"WECHAT_TOKEN": "a b"}, "WECHAT_TOKEN"),
        ({"WECHAT_TOKEN": "x" * 33}, "WECHAT_TOKEN"),
        (base(WECHAT_ENCODING_AES_KEY="short"), "WECHAT_ENCODING_AES_KEY"),
        (base(WECHAT_ENCODING_AES_KEY="!" * 43), "WECHAT_ENCODING_AES_KEY"),
        (base(WECHAT_ENCODING_AES_KEY=AES_KEY), "WECHAT_APP_ID"),
        (base(WECHAT_APP_ID="wxNOTHEX"), "WECHAT_APP_ID"),
        (base(WECHAT_API_BASE_URL="ftp://x"), "WECHAT_API_BASE_URL"),
        (base(REDIS_URL="http://localhost"), "REDIS_URL"),
        (base(REDIS_SENTINELS="a:1"), "REDIS_SENTINEL_MASTER"),
        (base(REDIS_SENTINELS="nohostport", REDIS_SENTINEL_MASTER="m"), "REDIS_SENTINELS"),
        (base(WXBOT_TICKET_WEBHOOK_URL="not a url"), "WXBOT_TICKET_WEBHOOK_URL"),
        (base(WXBOT_LOG_LEVEL="LOUD"), "WXBOT_LOG_LEVEL"),
    ],
)
def test_each_mistake_names_its_variable(env, variable):
    with pytest.raises(ConfigError) as exc:
        Settings.from_env(env)
    message = str(exc.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_lists_and_safe_mode():
    s = Settings.from_env(base(WXBOT_ADMIN_OPENIDS=" a, b ,,c", WECHAT_ENCODING_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID))
    assert s.admin_openids == ("a", "b", "c")
    assert s.safe_mode and len(s.aes_key_bytes) == 32
    assert s.is_admin("b") and not s.is_support("b")


def test_secrets_are_not_in_repr():
    s = Settings.from_env(base(WECHAT_APP_SECRET="topsecretvalue", WXBOT_ADMIN_TOKEN="admintokenvalue"))
    assert "topsecretvalue" not in repr(s) and "admintokenvalue" not in repr(s)


def test_factory_raises_a_one_line_config_error(tmp_path, monkeypatch):
    # The factory raises; each entry point (CLI, gunicorn_conf) turns it into one line and exit 2
    # (tests/ops/test_gunicorn.py runs them).
    monkeypatch.setenv("WECHAT_TOKEN", "bad token!")
    monkeypatch.setenv("WXBOT_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        create_app()
    assert str(info.value) == "WECHAT_TOKEN: 必须是 3-32 位字母或数字（公众号后台的要求）"


def test_broken_config_edit_keeps_last_good_version(tmp_path, caplog):
    path = tmp_path / "texts.yaml"
    path.write_text("welcome: 你好\n", encoding="utf-8")
    f = ReloadingFile(path, Texts, reload_interval=0)
    assert f.get().get("welcome") == "你好"
    path.write_text("welcome: [unclosed\n", encoding="utf-8")
    assert f.get().get("welcome") == "你好"
    assert f.error and "texts.yaml" in f.error
    assert sum("config file broken" in r.getMessage() for r in caplog.records) == 1
    f.get()  # unchanged broken file: no second error line
    assert sum("config file broken" in r.getMessage() for r in caplog.records) == 1
    path.write_text("welcome: 您好\n", encoding="utf-8")
    assert f.get().get("welcome") == "您好" and f.error is None


def test_unknown_bot_yaml_section_is_refused(tmp_path):
    # load_bot_config needs nothing imported first: one model validates the whole file.
    from wxbot.policy import load_bot_config

    (tmp_path / "bot.yaml").write_text("webhok:\n  msg_limit: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="webhok: 没有这个设置项"):
        load_bot_config(tmp_path)
    (tmp_path / "bot.yaml").write_text("webhook:\n  msg_limt: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="msg_limt"):
        load_bot_config(tmp_path)


def test_texts_edit_with_broken_placeholder_or_removed_key_is_refused(tmp_path, caplog):
    from wxbot.texts import texts_file

    path = tmp_path / "texts.yaml"
    path.write_text("welcome: 你好 {name}\nfallback: 不知道\n", encoding="utf-8")
    f = texts_file(tmp_path, reload_interval=0)
    assert f.get().render("welcome", name="小明") == "你好 小明"
    path.write_text("welcome: 你好 {name\nfallback: 不知道\n", encoding="utf-8")
    assert f.get().render("welcome", name="小明") == "你好 小明"
    assert "welcome: 占位符写错了" in f.error
    path.write_text("welcome: 你好 {name}\n", encoding="utf-8")
    assert f.get().get("fallback") == "不知道"
    assert "删掉了文字：fallback" in f.error
    path.write_text("welcome: '{{literal}} {name}'\nfallback: 不知道\nextra: 新的\n", encoding="utf-8")
    assert f.get().render("welcome", name="x") == "{literal} x" and f.error is None
    assert f.get().render("extra") == "新的"


def test_broken_texts_file_at_start_is_a_config_error(tmp_path):
    from wxbot.texts import texts_file

    (tmp_path / "texts.yaml").write_text("welcome: '{0} 你好'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"welcome: 占位符 \{0\} 不是简单的 \{名称\}"):
        texts_file(tmp_path)


@pytest.mark.parametrize("text", ["{a[x]}", "{a.b}", "{n:d}", "{n!r}", "{}", "{", "}"])
def test_only_plain_placeholders_are_accepted(text):
    with pytest.raises(ValueError, match="^welcome: "):
        Texts({"welcome": text})


def test_texts_edit_with_a_misspelt_placeholder_is_refused(tmp_path):
    from wxbot.texts import texts_file

    path = tmp_path / "texts.yaml"
    path.write_text("reply: 密码：{password}\n", encoding="utf-8")
    f = texts_file(tmp_path, reload_interval=0)
    path.write_text("reply: 密码：{pasword}\n", encoding="utf-8")
    assert f.get().render("reply", password="abc") == "密码：abc"
    assert "reply: 没有占位符 {pasword}；这段文字可以用：{password}" in f.error
    path.write_text("reply: 今天的密码是 {password}\n", encoding="utf-8")
    assert f.get().render("reply", password="abc") == "今天的密码是 abc" and f.error is None


@pytest.mark.parametrize("yaml_text,said", [
    ("tickets:\n  max_screenshots: -1\n", "tickets.max_screenshots: 不能小于 0"),
    ("tickets:\n  max_screenshots: lots\n", "tickets.max_screenshots: 应为整数"),
    ("ai:\n  max_tokens: 5000\n", "ai.max_tokens: 不能大于 4096"),
    ("alerts:\n  redis_down_after: 0\n", "alerts.redis_down_after: 必须大于 0"),
    ("password:\n  schedule_cron: 'every day'\n", "password.schedule_cron: 'every day' 不是有效的 cron 表达式"),
])
def test_bot_yaml_errors_are_in_chinese_with_the_numbers(tmp_path, yaml_text, said):
    from wxbot.policy import load_bot_config

    (tmp_path / "bot.yaml").write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_bot_config(tmp_path)
    assert str(err.value).endswith(said)


def test_an_unknown_pydantic_error_type_keeps_its_text():
    from wxbot.settings import error_text

    assert error_text({"type": "no_such_type", "msg": "Something odd", "ctx": {}}) == "Something odd"
    assert error_text({"type": "literal_error", "msg": "x", "ctx": {"expected": "'password' or 'tickets'"}}) \
        == "只能是 'password' 或 'tickets'"
