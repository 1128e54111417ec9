"""The console's knowledge pages through the test client: FAQ edits (answer, examples, new entry, undo,
validation, preview, try a question, export), the unmatched list (teach, dismiss, support reads only),
texts (placeholder validation, undo, export) and the menu (preview, push, WeChat's error explained).
Each edit is checked where it matters: the next follower's reply, here and on another app instance."""
from __future__ import annotations

import json

import pytest
import yaml

from helpers.console import SECRET_KEY, csrf_token, post_form
from helpers.knowledge import INVOICE, PRICE, UNMATCHED, inline_reload_env, write_faq
from helpers.tickets import TICKET_INTERNALS, WORKER_INTERNALS
from wxbot import create_app
from wxbot.services import build_services
from wxbot.testing import WeChatSimulator, flask_transport

FOLLOWER = "oKnowledgeFollower0000000001"
MENU_CREATE = "/cgi-bin/menu/create"


@pytest.fixture
def env_overrides() -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY, **inline_reload_env(tickets=TICKET_INTERNALS, worker=WORKER_INTERNALS)}


@pytest.fixture
def config_dir(config_dir):
    write_faq(config_dir)
    return config_dir


@pytest.fixture
def second_sim(settings):
    """Another web process (its own services and app) on the same Redis and config."""
    services = build_services(settings)
    app = create_app(settings, services)
    app.testing = True
    yield WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token, settings.aes_key_bytes,
                          settings.wechat_app_id)
    services.close()


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


def flashed(resp) -> str:
    return resp.get_data(as_text=True)


ADMIN_PAGES = ["/console/faq", "/console/faq/entry/invoice", "/console/faq/export", "/console/texts",
               "/console/texts/fallback", "/console/texts/export", "/console/menu"]
ADMIN_POSTS = ["/console/faq/entry/invoice/answer", "/console/faq/entry/invoice/examples", "/console/faq/add",
               "/console/faq/undo/1", "/console/unmatched/teach", "/console/unmatched/dismiss",
               "/console/texts/fallback", "/console/texts/fallback/undo", "/console/menu/push"]


def test_support_reads_the_unmatched_list_and_gets_403_for_everything_else(support, sim, redis_client):
    sim.text(FOLLOWER, UNMATCHED)
    html = page(support, "/console/unmatched")
    assert UNMATCHED in html and "教会" not in html and "忽略</button>" not in html
    assert "常见问题</a>" not in html.split("<main>")[0]  # no admin links in the nav
    for url in ADMIN_PAGES:
        resp = support.get(url)
        assert resp.status_code == 403 and "没有权限" in resp.get_data(as_text=True), url
    token = csrf_token(html)
    for url in ADMIN_POSTS:
        resp = support.post(url, data={"csrf_token": token, "text": UNMATCHED, "entry": "invoice", "answer": "x"})
        assert resp.status_code == 403, url
    assert redis_client.hlen("wxbot:faq:teachings") == 0 and redis_client.hlen("wxbot:faq:edits") == 0


def test_an_unmatched_question_is_listed_taught_with_one_click_and_answered_everywhere(admin, sim, second_sim):
    assert INVOICE not in sim.text(FOLLOWER, UNMATCHED).content
    sim.text(FOLLOWER, UNMATCHED + "？")
    html = page(admin, "/console/unmatched")
    assert UNMATCHED in html and "问了 2 次" in html and "第一次 " in html and "最近 " in html
    assert "这 7 天问得最多的" in html and html.count(UNMATCHED) >= 3  # the list, its forms and the week

    resp = post_form(admin, "/console/unmatched", "/console/unmatched/teach", text=UNMATCHED, entry="invoice")
    assert resp.status_code == 302
    html = page(admin, "/console/unmatched")
    assert "已教会" in html and "现在没有没答上的问题" in html and "另有 1 个现在的常见问题已经能回答" in html
    assert INVOICE in sim.text(FOLLOWER, UNMATCHED).content
    assert INVOICE in second_sim.text(FOLLOWER, UNMATCHED).content  # another process, no restart

    number = int(html.split("撤销 #")[1].split("”")[0])
    resp = post_form(admin, "/console/faq", f"/console/faq/undo/{number}")
    assert "已撤销" in page(admin, "/console/faq")
    assert INVOICE not in second_sim.text(FOLLOWER, UNMATCHED).content
    assert UNMATCHED in page(admin, "/console/unmatched")  # unanswered again: listed again


def test_teaching_to_a_new_entry_goes_to_the_add_form_with_the_question(admin, sim):
    sim.text(FOLLOWER, UNMATCHED)
    resp = post_form(admin, "/console/unmatched", "/console/unmatched/teach", text=UNMATCHED, entry="__new__")
    assert resp.status_code == 302 and "new_question=" in resp.headers["Location"]
    html = page(admin, resp.headers["Location"])
    assert f'value="{UNMATCHED}"' in html
    resp = post_form(admin, "/console/faq", "/console/faq/add", id="whale", topic="小鲸鱼", question=UNMATCHED,
                     answer="小鲸鱼软件可以用，把 BASE URL 填成 https://example.com/v1 即可。")
    assert resp.headers["Location"].endswith("/console/faq/entry/whale")
    assert "小鲸鱼软件可以用" in sim.text(FOLLOWER, UNMATCHED).content
    assert "小鲸鱼软件可以用" in sim.text(FOLLOWER, "小鲸鱼").content  # its topic is a whole-message rule


def test_dismissing_an_unmatched_question(admin, sim, redis_client):
    sim.text(FOLLOWER, UNMATCHED)
    post_form(admin, "/console/unmatched", "/console/unmatched/dismiss", text=UNMATCHED)
    html = page(admin, "/console/unmatched")
    assert "已忽略" in html and "现在没有没答上的问题" in html
    assert redis_client.zcard("wxbot:faq:unmatched") == 0
    assert any(e["action"] == "faq.dismiss" for e in _audit(redis_client))


def _audit(redis_client) -> list[dict]:
    return [f for _, f in redis_client.xrange("wxbot:audit")]


def test_editing_an_answer_previews_then_saves_and_the_next_reply_changes(admin, sim, second_sim, redis_client):
    new = "可以开增值税普通发票。\n开票说明：https://example.com/fapiao"
    resp = post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/answer", answer=new,
                     do="preview")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "预览（还没保存）" in html
    assert '<a href="https://example.com/fapiao" rel="noopener noreferrer" target="_blank">' in html
    assert f"{len(new.encode())} / 2048 字节" in html
    assert INVOICE in sim.text(FOLLOWER, "能开发票吗").content  # a preview saves nothing

    resp = post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/answer", answer=new,
                     do="save")
    assert resp.status_code == 302
    assert sim.text(FOLLOWER, "能开发票吗").content == new
    assert second_sim.text(FOLLOWER, "能开发票吗").content == new
    assert any(e["action"] == "faq.edit.answer" and e["actor"] == "console:boss" for e in _audit(redis_client))
    html = page(admin, "/console/faq")
    assert "改了回答" in html and '<span class="badge replied">已改</span>' in html

    number = int(redis_client.get("wxbot:faq:teachings:seq"))
    post_form(admin, "/console/faq", f"/console/faq/undo/{number}")
    assert INVOICE in second_sim.text(FOLLOWER, "能开发票吗").content


def test_an_answer_over_2048_bytes_is_refused_with_the_reason_and_the_old_one_kept(admin, sim, redis_client):
    resp = post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/answer",
                     answer="发" * 700, do="save")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "没有保存" in html and "2048" in html and "原来的内容没有变" in html
    assert "超过微信的上限" in html
    assert redis_client.hlen("wxbot:faq:edits") == 0
    assert INVOICE in sim.text(FOLLOWER, "能开发票吗").content


def test_a_new_entry_that_would_break_the_faq_is_refused(admin, redis_client):
    for fields, why in (({"id": "invoice2", "topic": "发票"}, "已经属于条目 invoice"),
                        ({"id": "invoice", "topic": "发票二"}, "重复了")):
        resp = post_form(admin, "/console/faq", "/console/faq/add", question="q", answer="a", **fields)
        html = page(admin, resp.headers["Location"])
        assert "没有保存" in html and why in html, fields
        assert redis_client.hlen("wxbot:faq:edits") == 0


def test_examples_are_added_and_removed_and_removal_is_undone(admin, app, redis_client):
    kn = app.extensions["wxbot"].features.faq.knowledge
    post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/examples", text="能给开张票不",
              do="add")
    html = page(admin, "/console/faq/entry/invoice")
    assert "能给开张票不" in html and "教过 #" in html
    post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/examples", text="能开票吗",
              do="remove")
    spec = next(e for e in kn.get().spec.entries if e.id == "invoice")
    assert "能开票吗" not in spec.examples and "开个发票" in spec.examples
    post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/examples", text="能给开张票不",
              do="remove")
    assert kn.teachings.all() == []
    edit = kn.edits.all()[0]
    post_form(admin, "/console/faq", f"/console/faq/undo/{edit.id}")
    spec = next(e for e in kn.get().spec.entries if e.id == "invoice")
    assert "能开票吗" in spec.examples


def test_try_a_question_explains_the_match_and_shows_the_reply(admin):
    html = page(admin, "/console/faq?q=" + "能开发票吗")
    assert "结果：回答 invoice" in html and "回答“发票”（invoice，得分" in html
    assert "1. invoice" in html and "相似问法:" in html  # the scored entries with what scored
    assert "可以开发票，请把抬头和税号发给客服。" in html
    assert '<a href="https://example.com/invoice"' in html
    html = page(admin, "/console/faq?q=" + UNMATCHED)
    assert "结果：答不上来" in html and "答不上来（最高得分" in html and "抱歉，这个问题我暂时答不上来" in html
    html = page(admin, "/console/faq?q=" + "多少钱")
    assert PRICE in html
    assert '<a href="https://www.juheaistore.top" rel="noopener noreferrer" target="_blank">自助购买网站</a>' in html


def test_the_faq_download_is_the_file_with_edits_and_teachings_merged(admin, config_dir):
    post_form(admin, "/console/faq/entry/price", "/console/faq/entry/price/answer", answer="一个 Key 10 元起。",
              do="save")
    post_form(admin, "/console/faq/entry/invoice", "/console/faq/entry/invoice/examples", text="能给开张票不",
              do="add")
    post_form(admin, "/console/faq", "/console/faq/add", id="refund", topic="退款", question="能退款吗？",
              answer="未使用的 Key 七天内可以退款。\n联系客服 ACG508")
    resp = admin.get("/console/faq/export")
    assert resp.status_code == 200 and "attachment; filename=faq.yaml" in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith("# A small FAQ for the knowledge tests.")  # the file's comments kept
    data = yaml.safe_load(text)
    by_id = {e["id"]: e for e in data["entries"]}
    assert by_id["price"]["answer"] == "一个 Key 10 元起。"
    assert "能给开张票不" in by_id["invoice"]["examples"]
    assert by_id["refund"]["answer"] == "未使用的 Key 七天内可以退款。\n联系客服 ACG508\n"


# -- texts ---------------------------------------------------------------------------------------------

def test_a_text_edit_is_validated_previewed_saved_and_undone(admin, sim, second_sim, redis_client):
    html = page(admin, "/console/texts")
    assert "fallback" in html and "<code>{topics}</code>" in html
    old = sim.text(FOLLOWER, UNMATCHED).content
    assert "抱歉，这个问题我暂时答不上来" in old

    for broken, why in (("答不上来，试试 {topic}", "不认识的占位符 {topic}，这段文字能用的是：{topics}"),
                        ("答不上来，试试 {topics", "占位符写法不对"),
                        ("答不上来 {topics!r}", "占位符写法不对"),
                        ("长" * 700, "文字太长（2100 字节）"), ("  ", "文字不能是空的")):
        resp = post_form(admin, "/console/texts/fallback", "/console/texts/fallback", text=broken, do="save")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and why in html and "原来的文字没有变" in html, broken
        assert "能用的占位符：<code>{topics}</code>" in html
    assert second_sim.text(FOLLOWER, UNMATCHED).content == old
    assert redis_client.hlen("wxbot:texts:overrides") == 0

    new = "这个我还不会，试试发送：{topics}\n或看 https://example.com/help"
    resp = post_form(admin, "/console/texts/fallback", "/console/texts/fallback", text=new, do="preview")
    html = resp.get_data(as_text=True)
    assert "试试发送：【topics】" in html and '<a href="https://example.com/help"' in html
    assert redis_client.hlen("wxbot:texts:overrides") == 0
    post_form(admin, "/console/texts/fallback", "/console/texts/fallback", text=new, do="save")
    got = second_sim.text(FOLLOWER, UNMATCHED).content
    assert got.startswith("这个我还不会，试试发送：发票") and "{topics}" not in got
    post_form(admin, "/console/texts/fallback", "/console/texts/fallback", text=new + "！", do="save")
    assert "之前还改过 1 次" in page(admin, "/console/texts/fallback")

    post_form(admin, "/console/texts/fallback", "/console/texts/fallback/undo")
    assert second_sim.text(FOLLOWER, UNMATCHED).content == got  # one step back
    post_form(admin, "/console/texts/fallback", "/console/texts/fallback/undo", all="yes")
    assert second_sim.text(FOLLOWER, UNMATCHED).content == old
    actions = [e["action"] for e in _audit(redis_client)]
    assert actions.count("text.edit") == 2 and "text.undo" in actions and "text.reset" in actions


def test_the_texts_download_has_the_edits_and_keeps_the_comments(admin, config_dir):
    post_form(admin, "/console/texts/menu.unknown", "/console/texts/menu.unknown", text="菜单还在准备中。",
              do="save")
    resp = admin.get("/console/texts/export")
    text = resp.get_data(as_text=True)
    assert text.startswith("# Every text a follower reads.")
    assert yaml.safe_load(text)["menu"]["unknown"] == "菜单还在准备中。"
    original = yaml.safe_load((config_dir / "texts.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(text)["welcome"] == original["welcome"]


def test_an_unknown_text_is_404(admin):
    assert admin.get("/console/texts/no.such.text").status_code == 404
    assert admin.get("/console/faq/entry/nosuch").status_code == 404


# -- menu ----------------------------------------------------------------------------------------------

def test_the_menu_preview_and_a_push(admin, wechat_api, redis_client):
    html = page(admin, "/console/menu")
    assert 'id="menu-bar"' in html and "密码" in html and "自助购买 Key" in html and "发送事件 <code>PASSWORD</code>" in html
    assert "没有功能回答这个 key" not in html
    resp = post_form(admin, "/console/menu", "/console/menu/push")
    assert "菜单已推送：3 个一级菜单" in page(admin, resp.headers["Location"])
    body = json.loads(wechat_api.calls(MENU_CREATE)[0].body)
    assert body["button"][0] == {"type": "click", "name": "密码", "key": "PASSWORD"}
    assert any(e["action"] == "menu.push" and e["result"] == "ok" for e in _audit(redis_client))


def test_wechat_refusing_the_menu_is_explained(admin, wechat_api, redis_client):
    wechat_api.on(MENU_CREATE, lambda req: (200, {"errcode": 48001, "errmsg": "api unauthorized"}))
    resp = post_form(admin, "/console/menu", "/console/menu/push")
    html = page(admin, resp.headers["Location"])
    assert "推送失败：微信返回错误 48001（api unauthorized）" in html and "订阅号需要微信认证" in html
    assert any(e["action"] == "menu.push" and e["result"] == "error:48001" for e in _audit(redis_client))


def test_a_broken_menu_file_is_shown_and_not_pushed(admin, config_dir, wechat_api):
    (config_dir / "menu.yaml").write_text("button: []\n", encoding="utf-8")
    html = page(admin, "/console/menu")
    assert "menu.yaml 有问题" in html and "一级菜单只能有 1-3 个" in html and 'id="menu-push"' not in html
    token = csrf_token(page(admin, "/console/faq"))
    admin.post("/console/menu/push", data={"csrf_token": token})
    assert wechat_api.calls(MENU_CREATE) == []
