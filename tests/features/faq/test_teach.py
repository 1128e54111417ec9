"""Admins teach the FAQ: `wxbot faq teach`, `#教`, teachings in Redis seen by every app instance at its
next check (no restart), audited and undoable, `wxbot faq export` keeping the file's comments; the
unmatched list leaves out what the FAQ now answers; reloads compile off the request thread."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

import wxbot.cli
from helpers.env import ADMIN, internals_env
from wxbot import create_app
from wxbot.audit import AuditLog
from wxbot.features.faq import knowledge as knowledge_module
from wxbot.services import build_services
from wxbot.testing import WeChatSimulator, flask_transport

OPENID = "oFaqTeachFollower000000000001"
NEW = "水星上的织布机能用你们的东西吗"  # a phrasing the shipped FAQ does not answer (nonsense: no entry may)


@pytest.fixture
def inline_reload(env_overrides):
    """Check file and teachings on every message and recompile inline (listed before `sim`)."""
    env_overrides.update(internals_env(webhook={"config_reload_interval": 0}, faq={"reload_in_background": False}))


@pytest.fixture
def runner(settings, services):
    obj = wxbot.cli.CliContext(settings, services)

    def run(*args):
        return CliRunner().invoke(wxbot.cli.main, ["faq", *args], obj=obj)

    return run


@pytest.fixture
def second_sim(settings):
    """Another app instance (another host) on the same Redis and config."""
    services = build_services(settings)
    app = create_app(settings, services)
    app.testing = True
    yield WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token, settings.aes_key_bytes,
                          settings.wechat_app_id)
    services.close()


def test_cli_teach_says_what_answers_the_text_with_the_teaching(runner, redis_client):
    """With the shipped internals (a check per second, background compiles): the line the admin reads
    says what the FAQ with the new teaching answers, not what it answered before."""
    res = runner("teach", NEW, "supported_apps")
    assert res.exit_code == 0, res.output
    assert "现在这句话由 supported_apps 回答" in res.output, res.output
    res = runner("match", NEW)  # what followers get: the running bot's teachings count
    assert "supported_apps" in res.output.splitlines()[1] and "1 条教学" in res.output, res.output
    res = runner("teach", NEW + "吗", "no_such_entry")
    assert res.exit_code == 1 and "所有 id：" in res.output and "supported_apps" in res.output


def answered_entry(app, text: str) -> str | None:
    res = app.extensions["wxbot"].features.faq.knowledge.get().match(text)
    return res.entry.id if res.kind == "answer" and res.entry else None


SUPPORTED_APPS = "沉浸式翻译"  # a phrase of the supported_apps answer


def test_cli_teach_is_answered_by_the_next_message_here_and_on_another_host(inline_reload, runner, sim, second_sim,
                                                                              app, redis_client):
    assert SUPPORTED_APPS not in sim.text(OPENID, NEW).content
    assert SUPPORTED_APPS not in second_sim.text(OPENID, NEW + "？").content

    res = runner("teach", NEW, "supported_apps")
    assert res.exit_code == 0, res.output
    assert "已教 #1" in res.output and "现在这句话由 supported_apps 回答" in res.output

    assert SUPPORTED_APPS in sim.text(OPENID, NEW).content  # no restart
    assert SUPPORTED_APPS in second_sim.text(OPENID, NEW + "？").content  # another host, same Redis
    (row,) = [e for e in AuditLog(redis_client).recent() if e.action == "faq.teach"]
    assert (row.actor, row.target, row.detail.split()[0]) == ("cli", "supported_apps", "#1")

    assert "#1" in runner("teachings").output
    res = runner("unteach", "1")
    assert res.exit_code == 0 and "已撤销 #1" in res.output
    assert SUPPORTED_APPS not in sim.text(OPENID, NEW).content
    assert SUPPORTED_APPS not in second_sim.text(OPENID, NEW + "？").content
    assert runner("unteach", "1").exit_code == 1
    assert [(e.action, e.result) for e in AuditLog(redis_client).recent()] == [
        ("faq.unteach", "not_found"), ("faq.unteach", "ok"), ("faq.teach", "ok")]


def test_cli_teach_refuses_unknown_entries_and_phrasings_another_entry_owns(runner, app):
    res = runner("teach", NEW, "no_such_entry")
    assert res.exit_code == 1 and "没有条目 'no_such_entry'" in res.output
    res = runner("teach", "公益版", "invoice")  # an exact rule of free_password in faq.yaml
    assert res.exit_code == 1 and "free_password" in res.output
    assert "还没有教学" in runner("teachings").output


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_staff_teach_in_wechat(inline_reload, sim, second_sim, redis_client):
    assert SUPPORTED_APPS not in sim.text(OPENID, NEW).content
    reply = sim.text(ADMIN, f"#教 支持的程序 {NEW}").content  # the entry by its topic
    assert "已学会" in reply and "supported_apps" in reply
    assert SUPPORTED_APPS in sim.text(OPENID, NEW).content
    assert SUPPORTED_APPS in second_sim.text(OPENID, NEW).content
    (row,) = AuditLog(redis_client).recent()
    assert row.action == "faq.teach" and row.actor.startswith("wx:") and ADMIN not in row.actor

    assert "用法" in sim.text(ADMIN, "#教 invoice").content
    assert "没有" in sim.text(ADMIN, f"#教 不存在的条目 {NEW}").content
    # A follower cannot teach: "#教 ..." from them is not a command.
    sim.text(OPENID, "#教 invoice 你们卖显卡吗")
    assert [r.action for r in AuditLog(redis_client).recent() if r.action.startswith("faq.")] == ["faq.teach"]


def test_export_merges_teachings_keeping_comments_and_order(runner, config_dir, tmp_path):
    assert runner("teach", NEW, "supported_apps").exit_code == 0
    out = tmp_path / "merged.yaml"
    res = runner("export", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    source = (config_dir / "faq.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == source.splitlines()[0]  # the header comment
    assert "# English (and pinyin typed in Latin letters)" in text
    import yaml

    merged, original = yaml.safe_load(text), yaml.safe_load(source)
    assert [e["id"] for e in merged["entries"]] == [e["id"] for e in original["entries"]]
    apps = next(e for e in merged["entries"] if e["id"] == "supported_apps")
    before = next(e for e in original["entries"] if e["id"] == "supported_apps")
    assert apps["examples"] == [*before["examples"], NEW]
    assert all(m == o for m, o in zip(merged["entries"], original["entries"]) if m["id"] != "supported_apps")


def test_unmatched_leaves_out_what_the_faq_now_answers(inline_reload, runner, sim):
    for text in (NEW, "你们卖显卡吗"):
        sim.text(OPENID, text)
    out = runner("unmatched").output
    assert "你们卖显卡吗" in out and "最可能" in out
    assert runner("teach", NEW, "supported_apps").exit_code == 0
    out = runner("unmatched").output
    assert "你们卖显卡吗" in out and "水星上的织布机" not in out and "另有 1 条没有列出" in out
    assert "水星上的织布机" in runner("unmatched", "--all").output


def _slow_compile(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make the FAQ's compile wait: (set when one started, set it to let the compile go on)."""
    started, release = threading.Event(), threading.Event()
    real = knowledge_module.compile_faq

    def slow_compile(*args, **kwargs):
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(knowledge_module, "compile_faq", slow_compile)
    return started, release


def test_a_reload_compiles_in_the_background_and_requests_keep_the_current_faq(env_overrides, monkeypatch, app,
                                                                               config_dir, redis_client):
    kn = app.extensions["wxbot"].features.faq.knowledge
    kn._interval = kn._next_check = 0  # check on every get()
    before = kn.get()
    kn.settle(10)  # that get()'s check is over: the next get() starts a new one (one check at a time)
    started, release = _slow_compile(monkeypatch)
    kn.teachings.teach("supported_apps", NEW, "test")  # another host taught: the version moved
    assert kn.get() is before
    assert started.wait(10)
    assert kn.get() is before  # the compile is still running: no request waits for it
    release.set()
    kn.settle(10)
    assert kn.get() is not before and kn.get().match(NEW).entry.id == "supported_apps"


def test_a_refresh_compiles_in_the_background_too(monkeypatch, app, redis_client):
    """A teaching by this process (a staff #教 on the webhook, a console edit) recompiles off the
    request thread: ``refresh`` returns at once and messages keep the current FAQ until the swap."""
    kn = app.extensions["wxbot"].features.faq.knowledge
    monkeypatch.setattr(kn, "_background", True)
    before = kn.get()
    started, release = _slow_compile(monkeypatch)
    kn.teachings.teach("supported_apps", NEW, "test")
    kn.refresh()  # returns while the compile waits
    assert started.wait(10)
    assert kn.get() is before  # the request that taught did not wait for the compile
    release.set()
    kn.settle(10)
    assert kn.get() is not before and kn.get().match(NEW).entry.id == "supported_apps"
