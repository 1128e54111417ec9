"""FAQ matcher without Flask: normaliser, masking, pattern safety, lint, decisions, and the labelled
evaluation as a regression guard (floors a little below the measured figures)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wxbot.features.faq.evaluation import evaluate
from wxbot.features.faq.lint import lint
from wxbot.features.faq.masking import mask
from wxbot.features.faq.matcher import MatchOptions, compile_faq, normalise
from wxbot.features.faq.spec import ANSWER_LIMIT, pattern_problem

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"

SEED_IDS = {
    "librechat_trouble", "purchase_page", "model_ranking", "free_password", "buy_key", "gpt35_cost",
    "supported_apps", "need_vpn", "advantages", "pricing", "balance", "time_limit", "sharing", "invoice",
    "corporate_transfer", "official_api", "more_models", "base_url", "rate_limit", "recharge", "internet",
    "upload_docs", "order_issue",
}
# Every absolute link of the seller's FAQ must reach followers as a plain URL.
SEED_URLS = [
    "https://www.gptacg.com/juhebill/", "https://www.juheailp.top/", "https://livebench.ai/",
    "https://www.juheaistore.top", "https://api.juheai.top", "https://lc.gptacg.com",
    "https://www.gptacg.com/open-source-program-supports-gpt-document-conversation/",
    "https://up.gptacg.com/upload.php",
]


def shipped_raw() -> dict:
    return yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def faq():
    return compile_faq(shipped_raw())


@pytest.fixture(scope="module")
def shipped_faq():
    """The shipped faq.yaml with the shipped bot.yaml's knobs, as the bot builds its options."""
    from wxbot.defaults import Faq as FaqInternals
    from wxbot.features.faq.knowledge import match_options
    from wxbot.folder import shipped_config
    from wxbot.policy import load_bot_config

    return compile_faq(shipped_raw(), match_options(load_bot_config(shipped_config()).faq, FaqInternals()))


def small_faq(**over) -> dict:
    raw = {
        "topics": ["a"],
        "greetings": ["你好"],
        "synonyms": {"魔法": ["梯子", "vpn"]},
        "entries": [
            {"id": "a", "topic": "开票", "question": "能开票吗？", "answer": "能。", "contains": ["发票"]},
            {"id": "b", "topic": "对公", "question": "能对公吗？", "answer": "不能。", "contains": ["对公"]},
            {"id": "c", "topic": "魔法", "question": "要魔法吗？", "answer": "不要。", "contains": ["魔法"]},
        ],
    }
    raw.update(over)
    return raw


# -- normaliser and masking ------------------------------------------------------------------

def test_normalise_width_case_punctuation_and_traditional():
    assert normalise("ＢＡＳＥ　ＵＲＬ填啥？？") == "baseurl填啥"
    assert normalise("免費版的密碼在哪裡") == "免费版的密码在哪里"
    assert normalise("gpt-3.5-turbo 扣錢嗎!") == "gpt3.5turbo扣钱吗"
    assert normalise("好的. 谢谢...") == "好的谢谢"
    assert normalise("长" * 5000, max_chars=200) == "长" * 200


def test_mask_hides_keys_phones_orders_and_emails():
    text = "我的 sk-AbCdEf1234567890xyz 用不了, 手机13812345678, 订单号 2024061512345678, a.b@qq.com"
    out = mask(text, 200)
    for secret in ("abcdef1234567890", "13812345678", "2024061512345678", "qq.com"):
        assert secret not in out
    for placeholder in ("«key»", "«phone»", "«order»", "«email»"):
        assert placeholder in out
    assert mask("+86 138-1234-5678 怎么办") == "«phone»怎么办"
    assert mask("baseurl 填啥") == "baseurl填啥"  # ordinary words and short numbers are kept


# -- pattern safety ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["(a+)+$", "(a*)*b", "(x|xy)*z", "(\\w+\\s?)+$", "(a)\\1", "([ab]{1,9}){2,}"])
def test_catastrophic_or_unsupported_patterns_are_refused(pattern):
    assert pattern_problem(pattern) is not None


@pytest.mark.parametrize("pattern", ["(?<![a-z])lc(?![a-z])", "比.{0,8}官方", "(填|写)(什么|啥)", "a+b*c?", "[0-9]{3,}"])
def test_ordinary_patterns_are_accepted(pattern):
    assert pattern_problem(pattern) is None


def test_invalid_and_overlong_patterns_are_refused():
    assert "不是有效的正则表达式" in pattern_problem("(unclosed")
    assert "超过 300 个字符" in pattern_problem("a" * 301)


# -- lint -------------------------------------------------------------------------------------

def test_shipped_faq_lints_clean_and_holds_every_seed_entry(faq):
    assert lint(shipped_raw()) == []
    assert {e.id for e in faq.entries} == SEED_IDS
    answers = "\n".join(e.answer for e in faq.entries)
    for url in SEED_URLS:
        assert url in answers
    for e in faq.entries:
        assert len(e.answer.encode()) <= ANSWER_LIMIT
        assert "](" not in e.answer and "**" not in e.answer and "![" not in e.answer  # no markdown left
    trouble = faq.by_id["librechat_trouble"].answer
    for step in ("新建一个对话", "更新 API-Key", "余额", "关闭 VPN", "ACG508"):
        assert step in trouble
    assert faq.by_id["free_password"].route == "password"
    assert faq.by_id["order_issue"].route == "tickets"


def test_lint_reports_duplicate_ids_long_answers_bad_patterns_and_unknown_topics():
    raw = small_faq()
    raw["entries"][1]["id"] = "a"
    assert any("entries: id 'a' 重复了" in p for p in lint(raw))

    raw = small_faq()
    raw["entries"][0]["answer"] = "长" * 700  # 2100 bytes
    problems = lint(raw)
    assert any("entries.a.answer" in p and "2048" in p for p in problems)

    raw = small_faq()
    raw["entries"][2]["patterns"] = ["(a+)+$"]
    assert any("嵌套的重复" in p for p in lint(raw))

    assert any("没有 id 为 'zzz' 的条目" in p for p in lint(small_faq(topics=["zzz"])))
    raw = small_faq()
    raw["entries"][1]["exact"] = ["开票"]
    assert any("已经属于条目 a" in p for p in lint(raw))
    assert lint(["not", "a", "mapping"]) == ["最外层必须是含有 entries: 的映射"]
    assert lint(small_faq()) == []


def test_compile_refuses_what_lint_reports():
    raw = small_faq()
    raw["entries"][0]["patterns"] = ["(x|xy)*z"]
    with pytest.raises(ValueError):
        compile_faq(raw)
    with pytest.raises(ValueError):
        compile_faq(None)


# -- decisions --------------------------------------------------------------------------------

def test_exact_contains_synonyms_and_fillers():
    f = compile_faq(small_faq())
    assert f.match("开票").entry.id == "a"
    assert f.match("请问能开发票吗？").entry.id == "a"
    assert f.match("要挂梯子吗").entry.id == "c"  # synonym 梯子 -> 魔法
    assert f.match("VPN要开吗").entry.id == "c"


def test_two_close_candidates_are_ambiguous_unless_priority_decides():
    f = compile_faq(small_faq())
    res = f.match("能开发票吗 对公可以吗")
    assert res.kind == "ambiguous"
    assert [e.id for e, _ in res.candidates] == ["a", "b"]
    raw = small_faq()
    raw["entries"][1]["priority"] = 1
    res = compile_faq(raw).match("能开发票吗 对公可以吗")
    assert (res.kind, res.entry.id) == ("answer", "b")


def test_greetings_offtopic_and_empty():
    f = compile_faq(small_faq())
    assert f.match("你好呀").kind == "greeting"
    assert f.match("你好 能开发票吗").entry.id == "a"  # a greeting plus a question is a question
    assert f.match("今天天气怎么样").kind == "none"
    assert f.match("哈哈哈").kind == "none"
    assert f.match("？？？ ").kind == "empty"


def test_threshold_and_ratio_come_from_options():
    raw = small_faq()
    raw["entries"][0]["keywords"] = {"报销": 1.0}
    assert compile_faq(raw).match("报销").kind == "none"
    assert compile_faq(raw, MatchOptions(threshold=1.0)).match("报销").entry.id == "a"


def test_ascii_typos_one_edit_away_still_match(faq):
    assert faq.match("librechta用不了").entry.id == "librechat_trouble"
    assert faq.match("bseurl填啥").entry.id == "base_url"


# Hang guards, not budgets: capped input takes milliseconds; uncapped, these would take minutes.
@pytest.mark.timeout(20)
def test_hostile_input_is_cheap(faq):
    for text in ("a" * 60000, "哈" * 60000, "(" * 60000, "sk-" + "a" * 60000):
        assert faq.match(text).kind in ("none", "empty", "greeting")
        mask(text)


@pytest.mark.timeout(20)
def test_patterns_run_on_capped_input_only():
    raw = small_faq()
    raw["entries"][0]["patterns"] = ["a.*b.*c.*d.*e"]  # polynomial, not exponential: fine on capped input
    f = compile_faq(raw, MatchOptions(max_chars=200))
    assert f.match("a" * 100000).kind in ("none", "empty")  # on 100 000 characters: minutes


# -- the labelled evaluation, as a regression guard ------------------------------------------

def load(name: str) -> dict:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def test_evaluation_sets_are_big_enough_and_never_the_question_text(faq):
    tune, held = load("faq_eval_tune.yaml"), load("faq_eval_heldout.yaml")
    assert set(tune["on_topic"]) == SEED_IDS == set(held["on_topic"])
    for entry_id in SEED_IDS:
        assert len(tune["on_topic"][entry_id]) + len(held["on_topic"][entry_id]) >= 10
    assert sum(map(len, held["on_topic"].values())) >= 100 and len(held["off_topic"]) >= 40
    questions = {normalise(e.question) for e in faq.entries}
    every = [str(m) for d in (tune, held) for v in d["on_topic"].values() for m in v]
    assert not questions & {normalise(m) for m in every}
    tune_all = set(every[: sum(map(len, tune["on_topic"].values()))]) | set(map(str, tune["off_topic"]))
    held_all = {str(m) for v in held["on_topic"].values() for m in v} | set(map(str, held["off_topic"]))
    assert not tune_all & held_all


def test_tuned_part_regression_floor(shipped_faq):
    """With the shipped bot.yaml's thresholds (what followers get): at the library default of 2.5 the
    round-5 examples made one off-topic message ("推荐个手机", 2.93) an answer; shipped, it is asked about."""
    ev = evaluate(shipped_faq, load("faq_eval_tune.yaml"))
    assert ev.top1_rate >= 0.97, ev.summary() + "\n" + "\n".join(map(str, ev.misses))  # measured 266/266
    assert ev.off_topic_answered == 0, ev.misses  # measured 0/40
    assert ev.greetings_recognised >= ev.greetings - 1


def test_held_out_part_regression_floor(faq):
    ev = evaluate(faq, load("faq_eval_heldout.yaml"))
    assert ev.top1_rate >= 0.95, ev.summary() + "\n" + "\n".join(map(str, ev.misses))  # measured 112/115
    assert ev.off_topic_answered <= 1, ev.misses  # measured 1/42
    assert ev.greetings_recognised >= ev.greetings - 1


def test_a_number_no_example_has_neither_helps_nor_hurts_a_match(shipped_faq):
    """An order number, an amount or a serial the examples never contain is no evidence: the same
    question with one after it keeps its entry and its example confidence (round 5: "…（70）" fell to an ask)."""
    f = shipped_faq
    plain = f.match("我想在自己的程序里调用你们的key可以吗", explain=True)
    assert plain.kind == "answer" and plain.entry.id == "supported_apps"
    for tail in ("（70）", " 7731025", "，20261202", "#9137"):
        got = f.match("我想在自己的程序里调用你们的key可以吗" + tail, explain=True)
        assert got.kind == "answer" and got.entry.id == "supported_apps", tail
        assert abs(got.score - plain.score) < 1e-6, (tail, got.reasons, plain.reasons)


def test_a_synonym_inside_an_everyday_word_is_left_alone(faq):
    """续费 is a variant of 充值, but 手续费 (an everyday word that holds it) is no top-up question."""
    assert faq._canon("续费") == "充值" and faq._canon("怎么续费") == "怎么充值"
    assert faq._canon("提现手续费低吗") == "提现手续费低吗"
    assert faq.match("微信支付和支付宝哪个提现手续费低啊").kind != "answer"
