"""The FAQ evaluation sets through the whole router, not just the matcher: a feature route (tickets,
password) that steals an FAQ question, or answers off-topic chatter, shows up here."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wxbot.router import Ctx
from wxbot.testing import message_xml
from wxbot.wechat.protocol import parse_xml, to_message

DATA = Path(__file__).parents[1] / "data"
FLOORS = {"tune": 0.97, "heldout": 0.95}  # measured: tune 266/266, held-out 111/115 (96.5%)


def route_of(bot, text: str):
    fields = {"ToUserName": "gh_x", "FromUserName": "oRoutingEval", "CreateTime": 1, "MsgType": "text",
              "Content": text, "MsgId": 1}
    msg = to_message(parse_xml(message_xml(fields).encode()))
    ctx = Ctx(bot.services, msg.from_user)
    return bot.router.resolve(msg, ctx), ctx.extra.get("faq.result")


@pytest.mark.parametrize("part", ["tune", "heldout"])
def test_followers_words_reach_the_right_feature(app, config_dir, part):
    faq = yaml.safe_load((config_dir / "faq.yaml").read_text(encoding="utf-8"))
    wanted = {e["id"]: e.get("route") for e in faq["entries"]}
    data = yaml.safe_load((DATA / f"faq_eval_{part}.yaml").read_text(encoding="utf-8"))
    misses, total = [], 0
    for entry_id, texts in data["on_topic"].items():
        for text in texts:
            total += 1
            route, res = route_of(app.extensions["wxbot"], text)
            if wanted[entry_id] == "password":
                ok = route.name in ("password", "faq_password")
            elif wanted[entry_id] == "tickets":
                ok = route.name.startswith("tickets") or route.name == "faq_feature"
            else:
                ok = route.name == "faq" and res is not None and res.kind == "answer" and res.entry.id == entry_id
            if not ok:
                misses.append((entry_id, text, route.name))
    assert (total - len(misses)) / total >= FLOORS[part], misses
    answered = []
    for text in data["off_topic"]:
        route, res = route_of(app.extensions["wxbot"], text)
        if route.name != "faq" or (res is not None and res.kind in ("answer", "ambiguous")):
            answered.append((text, route.name))
    assert len(answered) <= 1, answered


@pytest.mark.parametrize("text", ["可以用支付宝付款吗", "订单在哪里看", "怎么付款", "支持微信支付吗"])
def test_pre_sale_questions_do_not_open_an_order_report(app, text):
    route, _ = route_of(app.extensions["wxbot"], text)
    assert not route.name.startswith("tickets") and route.name != "faq_feature", route.name


@pytest.mark.parametrize("text, route_name, entry", [
    ("怎么联系客服", "tickets_human", None),
    ("客服微信多少", "tickets_human", None),
    ("有没有免费的", "faq_password", None),
    ("付款后多久发key", "faq", "buy_key"),
    ("买了key怎么用", "faq", "supported_apps"),
])
def test_phrasings_found_missing_by_the_gap_check(app, text, route_name, entry):
    route, res = route_of(app.extensions["wxbot"], text)
    assert route.name == route_name
    if entry:
        assert res.entry.id == entry


def test_off_topic_tune_set_gets_no_answer_of_ours(app):
    """tune19: 200 off-topic messages near the FAQ's topics (first run: 23 answered with a FAQ fact, 4 given the
    password or a report); measured after tuning: 2 with a FAQ fact ("有APP吗" and a gold price question), none routed."""
    data = yaml.safe_load((DATA / "faq_eval_tune19.yaml").read_text(encoding="utf-8"))
    answered, routed = [], []
    for item in data["off_topic"]:
        route, res = route_of(app.extensions["wxbot"], item["text"])
        if route.name != "faq":
            routed.append((item["text"], route.name))
        elif res is not None and res.kind == "answer":
            answered.append((item["text"], res.entry.id))
    assert len(data["off_topic"]) == 200
    assert routed == [] and len(answered) <= 2, (routed, answered)
