"""The FAQ's console edits as stored: versioned (the teachings' counter and id sequence), validated
exactly as a reload validates, audited, undoable, layered over faq.yaml, seen by every process at its
next check, merged into `wxbot faq export`; and the unmatched list's first/last seen, week and dismiss."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

import wxbot.cli
from helpers.knowledge import FAQ_YAML, INVOICE, UNMATCHED, inline_reload_env, write_faq
from wxbot.features.faq.edits import apply_edits
from wxbot.features.faq.export import merged_yaml
from wxbot.features.faq.matcher import compile_faq
from wxbot.features.faq.store import DAY, Edit, EditStore, UnmatchedStore
from wxbot.services import build_services
from wxbot.stores import keys

ACTOR = "console:boss"


@pytest.fixture
def env_overrides() -> dict:
    return inline_reload_env()


@pytest.fixture
def config_dir(config_dir):
    write_faq(config_dir)
    return config_dir


@pytest.fixture
def faq(app):
    return app.extensions["wxbot"].features.faq


@pytest.fixture
def other(settings):
    """The FAQ of another process on the same Redis and config."""
    from wxbot.bot import build_features

    services = build_services(settings)
    yield build_features(services).faq.knowledge
    services.close()


def answer_of(knowledge, text: str) -> str | None:
    res = knowledge.get().match(text)
    return res.entry.answer if res.kind == "answer" and res.entry else None


def test_edits_share_the_teachings_version_and_ids_and_undo_removes_one(redis_client):
    store = EditStore(redis_client)
    from wxbot.features.faq.store import TeachingStore

    teachings = TeachingStore(redis_client)
    t = teachings.teach("invoice", "开票", ACTOR, now=1.0)
    e = store.add("answer", "invoice", "新回答", ACTOR, now=2.0)
    assert (t, e) == (1, 2) and teachings.version() == 2
    version, taught, edits = store.layers()
    assert version == 2 and taught == {"invoice": ["开票"]}
    assert edits == [Edit(2, "answer", "invoice", "新回答", ACTOR, 2.0)]
    assert store.remove(2) == edits[0] and store.remove(2) is None
    assert teachings.version() == 3 and store.all() == []
    with pytest.raises(ValueError):
        store.add("rename", "invoice", "x", ACTOR)


def test_apply_edits_layers_in_order_and_skips_what_no_longer_applies():
    raw = yaml.safe_load(FAQ_YAML)
    new = json.dumps({"topic": "退款", "question": "能退吗", "answer": "能"})
    edits = [Edit(1, "answer", "invoice", "一", "", 0), Edit(2, "answer", "invoice", "二", "", 0),
             Edit(3, "unexample", "invoice", "能开票吗", "", 0), Edit(4, "answer", "gone", "x", "", 0),
             Edit(5, "entry", "refund", new, "", 0), Edit(6, "entry", "price", new, "", 0)]
    out = apply_edits(raw, edits)
    by_id = {e["id"]: e for e in out["entries"]}
    assert by_id["invoice"]["answer"] == "二" and by_id["invoice"]["examples"] == ["开个发票"]
    assert by_id["refund"] == {"id": "refund", "topic": "退款", "question": "能退吗", "answer": "能"}
    assert by_id["price"]["topic"] == "价格"  # the file's entry wins over a new one with its id
    assert "gone" not in by_id and len(out["entries"]) == 3
    assert raw == yaml.safe_load(FAQ_YAML)  # a copy: the file's parse is never changed


def test_an_answer_edit_is_audited_and_seen_by_another_process_at_its_next_check(faq, other, redis_client):
    assert answer_of(other, "能开发票吗").startswith(INVOICE)
    status, number = faq.editor.edit_answer("invoice", "现在只开电子发票。\r\n", ACTOR)
    assert status == "ok"
    assert answer_of(faq.knowledge, "能开发票吗") == "现在只开电子发票。"  # this process: at once
    assert answer_of(other, "能开发票吗") == "现在只开电子发票。"  # another: its next check, no restart
    audit = [f for _, f in redis_client.xrange(keys.AUDIT_LOG)]
    assert audit[-1]["action"] == "faq.edit.answer" and audit[-1]["actor"] == ACTOR
    assert audit[-1]["detail"].startswith(f"#{number} ")
    assert faq.editor.undo(number, ACTOR).kind == "answer"
    assert answer_of(other, "能开发票吗").startswith(INVOICE)
    assert faq.editor.undo(number, ACTOR) is None


@pytest.mark.parametrize("kind,entry,value,reason", [
    ("answer", "invoice", "发" * 700, "2048"),
    ("entry", "dup", json.dumps({"topic": "价格", "question": "q", "answer": "a"}), "已经属于条目 price"),
    ("entry", "Bad-Id", json.dumps({"topic": "t", "question": "q", "answer": "a"}), "id"),
    ("entry", "notopic", json.dumps({"topic": "", "question": "q", "answer": "a"}), "topic"),
])
def test_an_edit_the_reload_would_refuse_is_not_stored(faq, redis_client, kind, entry, value, reason):
    version = faq.knowledge.teachings.version()
    status, why = faq.editor.edit(kind, entry, value, ACTOR)
    assert status == "invalid" and reason in why
    assert faq.knowledge.teachings.version() == version and faq.knowledge.edits.all() == []


def test_an_edit_of_an_unknown_entry_is_refused(faq):
    assert faq.editor.edit_answer("nosuch", "x", ACTOR) == ("unknown", None)


def test_removing_an_example_unteaches_a_teaching_or_edits_the_file_example(faq, other):
    status, taught = faq.teacher.teach("invoice", "给开张票不", ACTOR)
    assert status == "taught"
    assert faq.editor.remove_example("invoice", "给开张票不", ACTOR) == ("ok", taught.id)
    assert faq.knowledge.teachings.all() == []
    status, number = faq.editor.remove_example("invoice", "能开票吗", ACTOR)
    assert status == "ok"
    spec = next(e for e in other.get().spec.entries if e.id == "invoice")
    assert spec.examples == ["开个发票"]


def test_a_new_entry_answers_on_every_process_and_undo_removes_it(faq, other):
    status, number = faq.editor.add_entry("refund", "退款", "能退款吗？", "七天内可以退。", ACTOR)
    assert status == "ok"
    assert answer_of(other, "退款") == "七天内可以退。"
    faq.editor.undo(number, ACTOR)
    assert "refund" not in other.get().by_id


def test_with_redis_down_the_file_alone_answers(faq, services):
    faq.editor.edit_answer("invoice", "改过的回答", ACTOR)
    services.breaker.trip()
    faq.knowledge.refresh()
    assert answer_of(faq.knowledge, "能开发票吗").startswith(INVOICE)


def test_export_writes_edits_and_teachings_into_the_file(faq, settings, services, config_dir, tmp_path):
    faq.editor.edit_answer("price", "一行\n两行", ACTOR)
    faq.editor.remove_example("invoice", "能开票吗", ACTOR)
    faq.teacher.teach("invoice", "给开张票不", ACTOR)
    faq.editor.add_entry("refund", "退款", "能退款吗？", "七天内可以退。", ACTOR)
    out = tmp_path / "faq.yaml"
    res = CliRunner().invoke(wxbot.cli.main, ["faq", "export", str(out)], obj=wxbot.cli.CliContext(settings, services))
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# A small FAQ for the knowledge tests.")
    by_id = {e["id"]: e for e in yaml.safe_load(text)["entries"]}
    assert by_id["price"]["answer"] == "一行\n两行\n" and "answer: |" in text
    assert by_id["invoice"]["examples"] == ["开个发票", "给开张票不"]
    assert by_id["refund"]["topic"] == "退款"
    # what export writes compiles to the FAQ the processes answer with (teachings now in the file)
    exported, live = compile_faq(yaml.safe_load(text)), faq.knowledge.get()
    assert [(e.id, e.answer) for e in exported.entries] == [(e.id, e.answer) for e in live.entries]
    assert merged_yaml(FAQ_YAML, {}, []) == FAQ_YAML  # nothing to merge: the file as it is


def test_cli_edits_and_undo(faq, settings, services):
    status, number = faq.editor.edit_answer("price", "十元起", ACTOR)
    obj = wxbot.cli.CliContext(settings, services)
    res = CliRunner().invoke(wxbot.cli.main, ["faq", "edits"], obj=obj)
    assert f"#{number}" in res.output and "answer" in res.output and "price" in res.output
    res = CliRunner().invoke(wxbot.cli.main, ["faq", "undo", str(number)], obj=obj)
    assert res.exit_code == 0 and f"已撤销 #{number}：条目 price 的 answer" in res.output
    res = CliRunner().invoke(wxbot.cli.main, ["faq", "undo", str(number)], obj=obj)
    assert res.exit_code == 1 and f"没有编号为 #{number} 的控制台修改或教学" in res.output


# -- the unmatched questions ---------------------------------------------------------------------------

def test_unmatched_keeps_first_and_last_seen_and_the_week(redis_client):
    store = UnmatchedStore(redis_client, max_size=100, chars=60)
    day0 = 20_000 * DAY
    store.record(UNMATCHED, now=day0 + 10)
    store.record(UNMATCHED + "？", now=day0 + 3 * DAY)
    store.record("另一个问题", now=day0 + 3 * DAY + 5)
    [row, other] = store.rows(10)
    assert (row.text, row.count, row.first, row.last) == (UNMATCHED, 2, day0 + 10, day0 + 3 * DAY)
    assert store.week(10, now=day0 + 3 * DAY) == [(UNMATCHED, 2), ("另一个问题", 1)]
    assert sorted(store.week(10, now=day0 + 8 * DAY)) == sorted([(UNMATCHED, 1), ("另一个问题", 1)])  # day 0 is out
    assert 0 < redis_client.ttl(keys.faq_asked_day(20_003)) <= 8 * DAY
    assert store.forget(UNMATCHED) == 1 and store.forget(UNMATCHED) == 0
    assert [r.text for r in store.rows(10)] == ["另一个问题"]
    assert redis_client.hget(keys.faq_unmatched_seen("first"), UNMATCHED) is None


def test_trimming_the_list_also_forgets_when_they_were_seen(redis_client):
    store = UnmatchedStore(redis_client, max_size=4, chars=60)
    for i in range(6):
        store.record(f"问题{i}", now=1000.0 + i)
    assert redis_client.zcard(keys.faq_unmatched()) == 4
    assert redis_client.hlen(keys.faq_unmatched_seen("first")) == 4
    assert redis_client.hlen(keys.faq_unmatched_seen("last")) == 4
