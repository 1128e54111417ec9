"""Follower texts edited in the console: stored in Redis over texts.yaml (versioned, one undo step per
edit, reset), layered by every process at its next check, validated as an edit of the file is (a
broken or unknown placeholder refused), skipped when the file no longer allows them, exportable."""
from __future__ import annotations

import pytest
import yaml

from helpers.env import internals_env
from wxbot.services import build_services
from wxbot.stores.texts import UNDO_DEPTH, TextOverrides
from wxbot.texts import LayeredTexts, check_text, merged_texts_yaml, texts_file

ACTOR = "console:boss"


@pytest.fixture
def env_overrides() -> dict:
    return internals_env(webhook={"config_reload_interval": 0})


@pytest.fixture
def other(settings):
    """The texts of another process on the same Redis and config."""
    services = build_services(settings)
    yield services.texts
    services.close()


def test_set_undo_reset_and_the_version(redis_client):
    store = TextOverrides(redis_client)
    assert store.version() == 0 and store.undo("fallback") is None and not store.reset("fallback")
    for i in range(3):
        store.set("fallback", f"第{i}版", ACTOR, now=100.0 + i)
    assert store.version() == 3
    edit = store.all()["fallback"]
    assert (edit.text, edit.by, edit.at, edit.depth) == ("第2版", ACTOR, 102.0, 2)
    assert store.undo("fallback").text == "第2版"
    assert store.snapshot() == (4, {"fallback": "第1版"})
    assert store.reset("fallback") and store.snapshot() == (5, {})


def test_undo_depth_is_bounded(redis_client):
    store = TextOverrides(redis_client)
    for i in range(UNDO_DEPTH + 5):
        store.set("fallback", f"第{i}版", ACTOR)
    assert store.all()["fallback"].depth == UNDO_DEPTH
    for _ in range(UNDO_DEPTH + 1):
        assert store.undo("fallback") is not None
    assert store.all() == {}


def test_every_process_layers_an_edit_at_its_next_check(services, other):
    before = other.get().render("fallback", topics="发票")
    services.texts.overrides.set("fallback", "答不上来，试试：{topics}", ACTOR)
    assert other.get().render("fallback", topics="发票") == "答不上来，试试：发票"
    assert other.get().get("welcome") == services.texts.file_texts().get("welcome")  # the rest: the file's
    services.texts.overrides.undo("fallback")
    assert other.get().render("fallback", topics="发票") == before


def test_a_slow_interval_is_skipped_until_refresh(services, redis_client):
    clock = [0.0]
    layered = LayeredTexts(services.texts.file, TextOverrides(redis_client), interval=60, clock=lambda: clock[0])
    original = layered.get().get("fallback")
    layered.overrides.set("fallback", "新的", ACTOR)
    assert layered.get().get("fallback") == original  # no Redis read before the interval is up
    layered.refresh()
    assert layered.get().get("fallback") == "新的"


def test_with_redis_out_the_file_answers_and_nothing_is_read(services, redis_client):
    calls = []

    class Down:
        def version(self):
            calls.append(1)
            raise ConnectionError("down")

    tripped = []
    layered = LayeredTexts(services.texts.file, Down(), interval=0, failed=lambda: tripped.append(1),
                           errors=(ConnectionError,))
    assert layered.get().get("fallback") == services.texts.file_texts().get("fallback")
    assert tripped == [1]
    closed = LayeredTexts(services.texts.file, Down(), interval=0, available=lambda: False)
    closed.get()
    assert calls == [1]  # the breaker open: not even tried


@pytest.mark.parametrize("text,why", [("试试 {topic}", "没有占位符 {topic}"),
                                      ("试试 {topics", "占位符写错了"), ("{topics!r}", "不是简单的 {名称}"),
                                      ("{0}", "不是简单的 {名称}")])
def test_check_text_refuses_what_an_edit_of_the_file_would(text, why):
    with pytest.raises(ValueError, match=why.replace("{", r"\{")):
        check_text("fallback", text, {"topics"})
    check_text("fallback", "试试 {topics}，或 {{字面}}", {"topics"})


def test_a_stored_edit_the_file_no_longer_allows_is_skipped(services, config_dir, caplog):
    services.texts.overrides.set("limits.slow_down", "请 {seconds} 秒后再试", ACTOR)  # bypassing the console
    layered = services.texts
    layered.refresh()
    assert layered.get().get("limits.slow_down") == layered.file_texts().get("limits.slow_down")
    assert "text edit skipped" in caplog.text


def test_the_merged_texts_keep_comments_and_layout(config_dir):
    source = (config_dir / "texts.yaml").read_text(encoding="utf-8")
    out = merged_texts_yaml(source, {"menu.unknown": "还没准备好。", "fallback": "两行\n{topics}", "no.such": "x"})
    data, original = yaml.safe_load(out), yaml.safe_load(source)
    assert data["menu"]["unknown"] == "还没准备好。" and data["fallback"] == "两行\n{topics}\n"
    assert data["welcome"] == original["welcome"] and "no" not in data
    assert out.splitlines()[0] == source.splitlines()[0]
    assert merged_texts_yaml(source, {}) == source
    texts_file(config_dir)  # the shipped file itself still loads
