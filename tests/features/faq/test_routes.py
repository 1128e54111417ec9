"""FAQ end to end through the webhook (signed like WeChat, real Redis), plus the `wxbot faq` CLI."""
from __future__ import annotations

import logging
import os

import pytest
from click.testing import CliRunner
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import wxbot.cli
from helpers.env import internals_env
from wxbot.features.faq import FaqFeature
from wxbot.features.faq.matcher import Faq
from wxbot.router import Route, Router
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator, wsgi_transport
from wxbot.wechat.endpoint import WeChatEndpoint

OPENID = "oFaqFollower00000000000000001"


_stamp = [2_000_000_000_000_000_000]


def edit(path, text: str) -> None:
    """Write a config file with a new mtime: the fast_reload fixture checks files on every message, and
    a distinct mtime makes the change visible without waiting for the clock to tick."""
    path.write_text(text, encoding="utf-8")
    _stamp[0] += 1_000_000
    os.utime(path, ns=(_stamp[0], _stamp[0]))


@pytest.fixture
def fast_reload(env_overrides):
    """Check config files on every message (listed before `sim`, so services are built with it)."""
    env_overrides.update(internals_env(webhook={"config_reload_interval": 0}, faq={"reload_in_background": False}))


def unmatched(redis_client) -> dict[str, int]:
    return {m: int(s) for m, s in redis_client.zrange(keys.faq_unmatched(), 0, -1, withscores=True)}


# -- answers ----------------------------------------------------------------------------------

def test_followers_words_get_the_sellers_answers(sim):
    assert "https://api.juheai.top" in sim.text(OPENID, "baseurl填啥").content
    assert sim.text(OPENID, "key会过期吗").content.startswith("没有时间限制")
    assert sim.text(OPENID, "要挂梯子吗").content.startswith("不需要")
    assert "开普票" in sim.text(OPENID, "能开票吗").content
    assert "https://www.gptacg.com/juhebill/" in sim.text(OPENID, "ＬｉｂｒｅＣｈａｔ一直報錯").content


def test_voice_is_matched_on_its_recognition(sim):
    reply = sim.voice(OPENID, "那个我想问一下就是用你们的GPT4需要开VPN吗。")
    assert reply.content.startswith("不需要")


def test_greeting_gets_a_short_greeting_with_topics(sim):
    reply = sim.text(OPENID, "你好 在吗")
    assert "自动客服" in reply.content and "BASE URL" in reply.content and "ACG508" in reply.content


def test_two_close_candidates_ask_which_one(sim):
    reply = sim.text(OPENID, "能开票吗 可以对公吗")
    assert "哪一个" in reply.content
    assert "“开票”" in reply.content and "“对公”" in reply.content
    # The keywords listed really lead to the answers.
    assert "开普票" in sim.text(OPENID, "开票").content
    assert "个人银行卡" in sim.text(OPENID, "对公").content


# -- fallback and the unmatched list -----------------------------------------------------------

def test_offtopic_gets_fallback_and_is_counted_once_per_message(sim, redis_client):
    fields = sim.text_fields(OPENID, "今天天气怎么样？")
    first = sim.send(fields)
    retry = sim.send(fields)  # WeChat's retry: same MsgId
    assert "ACG508" in first.content and first.content == retry.content
    assert "BASE URL" in first.content  # the fallback lists topics a follower can send
    sim.text(OPENID, "今天 天气怎么样")
    sim.text(OPENID, "哈哈哈")
    assert unmatched(redis_client) == {"今天天气怎么样": 2, "哈哈哈": 1}
    sim.text(OPENID, "baseurl填啥")  # answered: not counted
    assert sum(unmatched(redis_client).values()) == 3


def test_unmatched_questions_are_masked(sim, redis_client):
    sim.text(OPENID, "帮我看看 sk-AbCdEf0123456789abcd 这个东西 13812345678 单号 20240601123456789")
    [member] = unmatched(redis_client)
    assert "«key»" in member and "«phone»" in member and "«order»" in member
    assert "abcdef0123456789" not in member and "13812345678" not in member and "20240601" not in member


def test_unmatched_list_is_bounded(app, redis_client):
    store = app.extensions["wxbot"].features.faq.knowledge.unmatched
    store.max_size = 10
    for i in range(40):
        store.record(f"问题{chr(0x4e00 + i)}")
    for _ in range(3):
        store.record("常问的问题")
    assert redis_client.zcard(keys.faq_unmatched()) <= 12
    assert store.top(1) == [("常问的问题", 3)]


# -- routes that are really features ----------------------------------------------------------

PROBES = """
  - id: probe_ticket
    topic: 探针工单
    question: 探针：工单？
    answer: 探针工单的自带答案
    contains: [探针工单]
    route: tickets
  - id: probe_password
    topic: 探针丙丁
    question: 探针：密码？
    answer: 探针密码的自带答案
    contains: [探针丙丁]
    route: password
"""


@pytest.fixture
def probe_faq(config_dir):
    """Entries routed to features, with words no feature's own route reacts to (listed first in a
    test's arguments, so the file is in place before services load it)."""
    path = config_dir / "faq.yaml"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n" + PROBES, encoding="utf-8")


def faq_only_sim(services, handlers: dict) -> WeChatSimulator:
    """A bot whose routes are only the FAQ's, handing ``route:`` entries to ``handlers``."""
    faq = FaqFeature(services)
    router = Router(faq.handover_route(handlers), faq.answer_route,
                    fallback=Route("fallback", lambda m, c: True, lambda m, c: None))
    app = DispatcherMiddleware(NotFound(), {"/wechat": WeChatEndpoint(services, router)})
    s = services.settings
    return WeChatSimulator(wsgi_transport(app), s.wechat_token, s.aes_key_bytes, s.wechat_app_id)


def test_feature_entries_go_to_the_feature_handler_once(probe_faq, services):
    calls = []

    def tickets_handler(msg, ctx):
        calls.append(msg.text)
        return f"已登记工单 #{len(calls)}"

    sim = faq_only_sim(services, {"tickets": tickets_handler})
    fields = sim.text_fields(OPENID, "我要探针工单")
    first = sim.send(fields)
    retry = sim.send(fields)
    assert first.content == retry.content == "已登记工单 #1"  # not replayable: the stored reply
    assert calls == ["我要探针工单"]


def test_password_entry_is_answered_by_the_password_route(probe_faq, sim, services):
    # A `route: password` entry is answered by the password feature's own replayable route (same
    # claim data as 【密码】: cooldown counted, one round trip); no password is set in this test.
    assert sim.voice(OPENID, "探针丙丁是多少").content == services.texts.get().render("password.none")


def test_feature_entry_without_the_feature_answers_its_own_text(probe_faq, services):
    assert faq_only_sim(services, {}).text(OPENID, "探针工单").content == "探针工单的自带答案"


def test_one_match_per_message(sim, monkeypatch):
    calls = []
    original = Faq.match

    def counting(self, text, explain=False):
        calls.append(text)
        return original(self, text, explain)

    monkeypatch.setattr(Faq, "match", counting)
    sim.text(OPENID, "怎么查余额")
    assert calls == ["怎么查余额"]


# -- hot reload and a broken file -------------------------------------------------------------

def test_edits_take_effect_and_a_broken_file_keeps_the_last_good_rules(fast_reload, sim, config_dir, caplog):
    path = config_dir / "faq.yaml"
    good = path.read_text(encoding="utf-8")
    assert "https://api.juheai.top" in sim.text(OPENID, "baseurl填啥").content

    edit(path, good.replace("https://api.juheai.top", "https://api2.juheai.top", 1))
    assert "https://api2.juheai.top" in sim.text(OPENID, "baseurl填啥").content

    caplog.set_level(logging.ERROR)
    edit(path, good.replace("entries:", "entries: [oops", 1))
    for text in ("baseurl填啥", "接口地址是多少"):
        assert "https://api2.juheai.top" in sim.text(OPENID, text).content
    errors = [r for r in caplog.records if "faq.yaml" in r.getMessage()]
    assert len(errors) == 1 and "keeping last good version" in errors[0].getMessage()

    bad_pattern = good.replace("patterns: ['(?<![a-z])lc(?![a-z])']", "patterns: ['(a+)+$']", 1)
    assert bad_pattern != good
    edit(path, bad_pattern)
    assert "https://api2.juheai.top" in sim.text(OPENID, "baseurl填啥").content  # still the last good
    assert "嵌套的重复" in caplog.records[-1].getMessage()


# -- CLI ----------------------------------------------------------------------------------------

@pytest.fixture
def runner(settings, services):
    obj = wxbot.cli.CliContext(settings, services)

    def run(*args):
        return CliRunner().invoke(wxbot.cli.main, ["faq", *args], obj=obj)

    return run


def test_cli_lint(runner, config_dir):
    res = runner("lint")
    assert res.exit_code == 0 and "没有问题，23 个条目" in res.output
    res = runner("lint", "--config-dir", str(config_dir))  # no settings needed this way
    assert res.exit_code == 0 and str(config_dir / "faq.yaml") in res.output
    bad = config_dir / "bad.yaml"
    bad.write_text(
        "entries:\n"
        "  - {id: a, topic: x, question: q, answer: a}\n"
        "  - {id: a, topic: y, question: q, answer: a}\n"
        f"  - {{id: b, topic: z, question: q, answer: '{'长' * 700}'}}\n"
        "  - {id: c, topic: w, question: q, answer: a, patterns: ['(x+)+y']}\n",
        encoding="utf-8",
    )
    res = runner("lint", "--file", str(bad))
    assert res.exit_code == 1
    assert "entries.b.answer" in res.output and "2048" in res.output
    assert "嵌套的重复" in res.output
    bad.write_text("entries:\n  - {id: a, topic: x, question: q, answer: a}\n"
                   "  - {id: a, topic: y, question: q, answer: a}\n", encoding="utf-8")
    res = runner("lint", "--file", str(bad))
    assert res.exit_code == 1 and "entries: id 'a' 重复了" in res.output
    bad.write_text("entries: [", encoding="utf-8")
    res = runner("lint", "--file", str(bad))
    assert res.exit_code == 1 and "不是有效的 YAML" in res.output


def test_cli_match_shows_entry_score_and_runners_up(runner):
    res = runner("match", "买key的网页打不开了")
    assert res.exit_code == 0, res.output
    assert "结果：回答 purchase_page" in res.output
    assert "1. purchase_page" in res.output and "2. buy_key" in res.output
    res = runner("match", "今天天气怎么样")
    assert "结果：答不上来" in res.output and "没有条目命中任何规则" in res.output
    res = runner("match", "能开票吗 可以对公吗")
    assert "反问粉丝想问哪一个" in res.output and "invoice" in res.output and "corporate_transfer" in res.output
    res = runner("match", "付了钱没收到key")
    assert "转给工单登记（route: tickets）" in res.output


def test_cli_unmatched_lists_most_frequent_first(runner, sim):
    assert "没有记录到没答上的问题" in runner("unmatched").output
    for text in ("你们卖显卡吗", "今天天气怎么样", "今天天气怎么样"):
        sim.text(OPENID, text)
    res = runner("unmatched", "--clear")
    lines = [line.split() for line in res.output.splitlines()]
    assert [line[:2] for line in lines[:2]] == [["2", "今天天气怎么样"], ["1", "你们卖显卡吗"]]
    assert all("（最可能：" in line for line in res.output.splitlines()[:2])
    assert "已清空" in res.output
    assert "没有记录到没答上的问题" in runner("unmatched").output


@pytest.mark.parametrize("text", ["谢谢", "谢谢！！", "好的好的", "ok", "👍", "[微笑]", "收到"])
def test_thanks_get_a_short_answer_and_are_not_counted(sim, redis_client, text):
    reply = sim.text(OPENID, text)
    assert reply.content.startswith("不客气")
    assert not redis_client.exists("wxbot:faq:unmatched")


def test_cancel_or_submit_without_a_report(sim):
    assert "没有正在登记" in sim.text(OPENID, "取消").content
    assert "没有正在登记" in sim.text(OPENID, "提交").content


def test_cli_eval_speaks_chinese_and_keeps_ids_and_numbers(runner, tmp_path):
    labelled = tmp_path / "set.yaml"
    labelled.write_text(
        "on_topic:\n  invoice: ['能开发票吗', '今天天气怎么样']\n"
        "styled_on_topic:\n  invoice: [{text: '能开发票吗？', style: terse}]\n"
        "password: ['密码多少']\noff_topic: ['你们卖显卡吗']\n", encoding="utf-8")
    res = runner("eval", str(labelled), "--misses")
    assert res.exit_code == 0, res.output
    assert "FAQ 范围内：答对 2/3（66.7%），答错 0，反问 0，兜底 1" in res.output
    assert "  简短（terse）：答对 1/1（100.0%），答错 0，反问 0，兜底 0" in res.output
    assert "  invoice              答对 2/3（66.7%）" in res.output and "密码：答对 1/1" in res.output
    assert "未答对 [未标风格（unstyled）] '今天天气怎么样'：应为 invoice，实际 兜底" in res.output
    assert not any(w in res.output for w in ("right", "wrong", "asked", "fallback"))
