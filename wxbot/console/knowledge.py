"""Admins keep the bot's knowledge right: the FAQ (answers, examples, new entries, "try a question",
the merged YAML), the unmatched questions (support may read them), the follower texts and the menu.

Every edit goes through the same code as the CLI and hot reload (the FAQ's ``Editor`` and ``Teacher``,
``check_text`` of the texts, ``load_menu`` and WeChat's API), is stored in Redis so every web process
sees it at its next check, and is audited."""
from __future__ import annotations

import json
import logging
import re

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from ..features.faq import ANSWER_LIMIT, explain, mask, merged_yaml, open_questions
from ..stores.texts import edit_problem
from ..texts import merged_texts_yaml, placeholders
from ..wechat.api import WeChatAPIError
from ..wechat.menu import HINTS, MenuError, load_menu, menu_path
from .labels import when
from .web import actor, admin_only, bot, bp, console, zone

log = logging.getLogger(__name__)

UNMATCHED_LIMIT = 50
WEEK_LIMIT = 10
NEW_ENTRY = "__new__"

KINDS = {"teach": "教了新问法", "answer": "改了回答", "unexample": "删了示例问法", "entry": "新增条目"}


def _faq():
    return bot().features.faq


# -- how WeChat shows a text ------------------------------------------------------------------------

_LINK = re.compile(r"""<a\s+href=["']([^"']+)["']\s*>(.*?)</a>""", re.S)
_URL = re.compile(r"https?://[^\s<>\"'，。；！？、）)】]+")


def wechat_text(text: str) -> Markup:
    """A text reply as WeChat draws it: ``<a href>`` tags and bare http(s) addresses become links,
    everything else is plain text (escaped), line breaks kept by the bubble's CSS."""
    out: list[str] = []
    pos = 0
    for m in _LINK.finditer(text):
        out.append(_linkify(text[pos:m.start()]))
        out.append(_anchor(m.group(1), m.group(2)))
        pos = m.end()
    out.append(_linkify(text[pos:]))
    return Markup("".join(out))


def _linkify(text: str) -> str:
    parts: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        parts.append(str(escape(text[pos:m.start()])))
        parts.append(_anchor(m.group(0), m.group(0)))
        pos = m.end()
    parts.append(str(escape(text[pos:])))
    return "".join(parts)


def _anchor(href: str, label: str) -> str:
    if not href.startswith(("http://", "https://")):
        return str(escape(label))
    return f'<a href="{escape(href)}" rel="noopener noreferrer" target="_blank">{escape(label)}</a>'


def preview(text: str) -> dict:
    """What the preview box shows: the bubble, its size against WeChat's 2048-byte cap."""
    size = len(text.encode("utf-8"))
    return {"html": wechat_text(text), "bytes": size, "limit": ANSWER_LIMIT, "over": size > ANSWER_LIMIT}


# -- FAQ ---------------------------------------------------------------------------------------------

def _entry_rows():
    kn = _faq().knowledge
    faq = kn.get()
    spec = {e.id: e for e in faq.spec.entries}
    edited = {e.entry for e in kn.current_edits()}
    return [{"id": e.id, "topic": e.topic, "question": e.question, "route": e.route,
             "examples": len(spec[e.id].examples) + len(faq.taught.get(e.id, ())), "edited": e.id in edited}
            for e in faq.entries]


def _decision(text: str) -> str:
    kn = _faq().knowledge
    res = kn.get().match(text)
    threshold = kn.cfg.threshold
    if res.kind == "answer" and res.entry is not None:
        return f"回答“{res.entry.topic}”（{res.entry.id}，得分 {res.score:.2f}，门槛 {threshold:g}）"
    if res.kind == "ambiguous":
        return "问粉丝想问哪一个：" + "、".join(f"“{e.topic}”" for e, _ in res.candidates)
    if res.kind == "greeting":
        return "当作打招呼，回复问候语"
    return f"答不上来（最高得分 {res.score:.2f}，不到门槛 {threshold:g}），回复兜底文字"


def _reply_for(text: str) -> str:
    """The reply a follower would get from the FAQ route for ``text`` (with the current texts)."""
    kn = _faq().knowledge
    faq = kn.get()
    texts = bot().services.texts.get()
    res = faq.match(text)
    topics = texts.render("faq.topic_separator").join(e.topic for e in faq.topics[: kn.cfg.topics_shown])
    if res.kind == "answer" and res.entry is not None:
        return res.entry.answer
    if res.kind == "ambiguous":
        options = "\n".join(texts.render("faq.option", topic=e.topic, question=e.question) for e, _ in res.candidates)
        return texts.render("faq.which_one", options=options)
    if res.kind == "greeting":
        return texts.render("faq.greeting", topics=topics)
    if kn.is_ack(text):
        return texts.render("faq.thanks")
    return texts.render("fallback", topics=topics)


@bp.route("/faq")
@admin_only
def faq():
    kn = _faq().knowledge
    question = (request.args.get("q") or "").strip()[:500]
    tried = None
    if question:
        tried = {"text": question, "lines": explain(kn.get(), question, kn.cfg.threshold),
                 "decision": _decision(question), "reply": preview(_reply_for(question))}
    history = [{**row, "kind_label": KINDS.get(row["kind"], row["kind"]), "at": when(row["at"], zone()),
                "value": " ".join(row["value"].split())[:80] if row["kind"] != "entry" else _entry_label(row["value"])}
               for row in _faq().editor.history()[:30]]
    return render_template("console/faq.html", entries=_entry_rows(), tried=tried, history=history,
                           new_question=(request.args.get("new_question") or "")[:200], error=kn.error)


def _entry_label(value: str) -> str:
    try:
        return str(json.loads(value).get("topic", ""))
    except ValueError:
        return ""


def _entry_or_404(entry_id: str):
    entry = _faq().knowledge.get().by_id.get(entry_id)
    if entry is None:
        abort(404)
    return entry


@bp.route("/faq/entry/<entry_id>")
@admin_only
def faq_entry(entry_id: str, draft: str | None = None):
    entry = _entry_or_404(entry_id)
    kn = _faq().knowledge
    faq_ = kn.get()
    spec = next(e for e in faq_.spec.entries if e.id == entry_id)
    taught = {t.text: t.id for t in kn.teachings.all() if t.entry == entry_id}
    examples = [{"text": x, "taught": None} for x in spec.examples if x not in taught]
    examples += [{"text": x, "taught": n} for x, n in taught.items()]
    text = entry.answer if draft is None else draft
    return render_template("console/faq_entry.html", entry=entry, spec=spec, examples=examples, draft=text,
                           preview=preview(text), drafting=draft is not None)


def _flash_result(status: str, value, done: str) -> None:
    if status == "ok":
        flash(done.format(id=value) + f"所有服务进程马上生效；要撤销，点常见问题页操作记录里的“撤销 #{value}”。")
    elif status == "unknown":
        flash("没有这个条目（可能刚被撤销）。", "error")
    else:
        flash(f"没有保存：这样改以后常见问题加载不了（{value}）。原来的内容没有变。", "error")


@bp.route("/faq/entry/<entry_id>/answer", methods=["POST"])
@admin_only
def faq_answer(entry_id: str):
    _entry_or_404(entry_id)
    answer = (request.form.get("answer") or "").replace("\r\n", "\n").strip("\n")
    if request.form.get("do") == "preview":
        return faq_entry(entry_id, draft=answer)
    if not answer.strip():
        flash("回答不能是空的。", "error")
        return redirect(url_for("console.faq_entry", entry_id=entry_id))
    status, value = _faq().editor.edit_answer(entry_id, answer, actor())
    _flash_result(status, value, "回答已保存（#{id}）。")
    if status == "invalid":
        return faq_entry(entry_id, draft=answer)
    return redirect(url_for("console.faq_entry", entry_id=entry_id))


@bp.route("/faq/entry/<entry_id>/examples", methods=["POST"])
@admin_only
def faq_example(entry_id: str):
    _entry_or_404(entry_id)
    text = (request.form.get("text") or "").strip()
    if request.form.get("do") == "remove":
        status, value = _faq().editor.remove_example(entry_id, text, actor())
        _flash_result(status, value, "示例问法已删除（#{id}）。")
    else:
        _teach(text, entry_id)
    return redirect(url_for("console.faq_entry", entry_id=entry_id))


def _teach(text: str, entry_id: str) -> bool:
    status, value = _faq().teacher.teach(entry_id, text, actor())
    if status == "taught":
        flash(f"已教会（#{value.id}）：“{value.text}”以后回答“{entry_id}”。所有服务进程马上生效；"
              f"要撤销，点常见问题页操作记录里的“撤销 #{value.id}”。")
        return True
    if status == "taken":
        flash(f"没有教：这句话已经是条目“{value}”的整句匹配规则。", "error")
    elif status == "empty":
        flash("没有教：问法是空的。", "error")
    else:
        flash("没有这个条目。", "error")
    return False


@bp.route("/faq/add", methods=["POST"])
@admin_only
def faq_add():
    f = request.form
    entry_id = (f.get("id") or "").strip()
    if not all((entry_id, (f.get("topic") or "").strip(), (f.get("question") or "").strip(),
                (f.get("answer") or "").strip())):
        flash("新条目需要填写 id、关键词、问题和回答。", "error")
        return redirect(url_for("console.faq"))
    status, value = _faq().editor.add_entry(entry_id, f.get("topic") or "", f.get("question") or "",
                                            f.get("answer") or "", actor())
    _flash_result(status, value, f"条目“{entry_id}”已添加（#{{id}}）。")
    if status == "ok":
        return redirect(url_for("console.faq_entry", entry_id=entry_id))
    return redirect(url_for("console.faq"))


@bp.route("/faq/undo/<int:number>", methods=["POST"])
@admin_only
def faq_undo(number: int):
    removed = _faq().editor.undo(number, actor())
    if removed is None:
        flash(f"没有 #{number} 这条修改（可能已经撤销过了）。", "error")
    else:
        flash(f"已撤销 #{number}，所有服务进程马上恢复原样。")
    return redirect(url_for("console.faq"))


@bp.route("/faq/export")
@admin_only
def faq_export():
    kn = _faq().knowledge
    _, taught, edits = kn.edits.layers()
    text = merged_yaml(kn.path.read_text(encoding="utf-8"), taught, edits)
    return Response(text, mimetype="application/x-yaml",
                    headers={"Content-Disposition": "attachment; filename=faq.yaml"})


# -- unmatched ---------------------------------------------------------------------------------------

@bp.route("/unmatched")
def unmatched():
    """Admins and support: support reads, only admins teach or dismiss."""
    kn = _faq().knowledge
    rows, hidden = open_questions(kn, UNMATCHED_LIMIT)
    faq_ = kn.get()
    listed = [{"text": q.asked.text, "count": q.asked.count, "first": when(q.asked.first, zone()), "last": when(q.asked.last, zone()),
               "guess": q.guess, "guess_topic": faq_.by_id[q.guess].topic if q.guess in faq_.by_id else "",
               "score": f"{q.score:.2f}"} for q in rows]
    week = [{"text": m, "count": n, "answered": _answered(faq_, m)} for m, n in kn.unmatched.week(WEEK_LIMIT)]
    return render_template("console/unmatched.html", rows=listed, hidden=hidden, week=week,
                           entries=[(e.id, e.topic) for e in faq_.entries], can_edit=g.user.is_admin,
                           new_entry=NEW_ENTRY)


def _answered(faq_, text: str) -> str:
    res = faq_.match(text)
    return res.entry.topic if res.kind == "answer" and res.entry else ""


@bp.route("/unmatched/teach", methods=["POST"])
@admin_only
def unmatched_teach():
    text = (request.form.get("text") or "").strip()
    entry = request.form.get("entry") or ""
    if entry == NEW_ENTRY:
        return redirect(url_for("console.faq", new_question=text) + "#add-entry")
    _teach(text, entry)
    return redirect(url_for("console.unmatched"))


@bp.route("/unmatched/dismiss", methods=["POST"])
@admin_only
def unmatched_dismiss():
    text = (request.form.get("text") or "").strip()
    c = console()
    if _faq().knowledge.unmatched.forget(text):
        c.audit.record(actor(), "faq.dismiss", detail=mask(text, 80), now=c.clock())
        flash(f"已忽略“{text}”。再有人问，它会重新出现在列表里。")
    else:
        flash("列表里已经没有这个问题了。", "error")
    return redirect(url_for("console.unmatched"))


# -- texts -------------------------------------------------------------------------------------------

def _texts():
    return bot().services.texts


def _sample(key: str, text: str) -> str:
    """The text with each {placeholder} shown as 【名字】, as a stand-in for what the bot fills in."""
    return text.format_map({p: f"【{p}】" for p in placeholders(text)})


@bp.route("/texts")
@admin_only
def texts():
    layered = _texts()
    current = layered.get()
    file = layered.file_texts()
    edited = layered.overrides.all()
    rows = [{"key": k, "text": current.get(k), "placeholders": sorted(layered.allowed(k)),
             "edited": k in edited, "changed": current.get(k) != file.get(k)} for k in current.keys()]
    return render_template("console/texts.html", rows=rows, error=layered.error)


@bp.route("/texts/<key>", methods=["GET", "POST"])
@admin_only
def text_edit(key: str):
    layered = _texts()
    current = layered.get()
    if key not in current:
        abort(404)
    allowed = layered.allowed(key)
    draft = current.get(key)
    problem = None
    if request.method == "POST":
        draft = (request.form.get("text") or "").replace("\r\n", "\n").rstrip("\n")
        problem = edit_problem(key, draft, allowed)
        if problem:
            flash(f"没有保存：{problem}原来的文字没有变。", "error")
        elif request.form.get("do") != "preview":
            c = console()
            layered.overrides.set(key, draft, actor(), now=c.clock())
            c.audit.record(actor(), "text.edit", key, detail=mask(draft, 80), now=c.clock())
            layered.refresh()
            flash("已保存，所有服务进程马上用新的文字。")
            return redirect(url_for("console.text_edit", key=key))
    edit = layered.overrides.all().get(key)
    sample = _sample(key, draft) if not problem else _sample(key, current.get(key))
    return render_template("console/text_edit.html", key=key, draft=draft, saved=current.get(key),
                           file_text=layered.file_texts().get(key), placeholders=sorted(allowed), edit=edit,
                           edit_at=when(edit.at, zone()) if edit else "", preview=preview(sample), problem=problem)


@bp.route("/texts/<key>/undo", methods=["POST"])
@admin_only
def text_undo(key: str):
    layered = _texts()
    c = console()
    if request.form.get("all") == "yes":
        done = layered.overrides.reset(key)
        message = "已恢复为 texts.yaml 里的文字。"
    else:
        done = layered.overrides.undo(key) is not None
        message = "已撤销最近一次修改。"
    if done:
        c.audit.record(actor(), "text.reset" if request.form.get("all") == "yes" else "text.undo", key, now=c.clock())
        layered.refresh()
        flash(message)
    else:
        flash("这段文字没有在控制台改过。", "error")
    return redirect(url_for("console.text_edit", key=key))


@bp.route("/texts/export")
@admin_only
def texts_export():
    layered = _texts()
    _, edits = layered.overrides.snapshot()
    text = merged_texts_yaml(layered.path.read_text(encoding="utf-8"), edits)
    return Response(text, mimetype="application/x-yaml",
                    headers={"Content-Disposition": "attachment; filename=texts.yaml"})


# -- menu --------------------------------------------------------------------------------------------

def _menu():
    services = bot().services
    try:
        return load_menu(menu_path(services.settings.config_dir)), None
    except MenuError as exc:
        return None, str(exc)


@bp.route("/menu")
@admin_only
def menu():
    menu_, problem = _menu()
    handled = bot().features.menu_keys
    unhandled = sorted(menu_.click_keys() - handled) if menu_ else []
    return render_template("console/menu.html", menu=menu_, problem=problem, unhandled=unhandled,
                           body=json.dumps(menu_.to_wechat(), ensure_ascii=False, indent=2) if menu_ else "")


@bp.route("/menu/push", methods=["POST"])
@admin_only
def menu_push():
    menu_, problem = _menu()
    c = console()
    if menu_ is None:
        flash(f"menu.yaml 有问题，没有推送：{problem}", "error")
        return redirect(url_for("console.menu"))
    try:
        bot().services.wechat_api.create_menu(menu_.to_wechat())
    except WeChatAPIError as exc:
        c.audit.record(actor(), "menu.push", result=f"error:{exc.errcode}", now=c.clock())
        log.warning("console: menu push failed: %s", exc)
        hint = HINTS.get(exc.errcode, "") if exc.reached else ""
        reason = f"微信返回错误 {exc.errcode}（{exc.errmsg}）" if exc.reached else f"连不上微信接口（{exc}）"
        flash(f"推送失败：{reason}。{hint}", "error")
        return redirect(url_for("console.menu"))
    c.audit.record(actor(), "menu.push", detail=f"buttons={len(menu_.buttons())}", now=c.clock())
    flash(f"菜单已推送：{len(menu_.button)} 个一级菜单，{len(menu_.buttons())} 个按钮。粉丝重新进入公众号后看到新菜单。")
    return redirect(url_for("console.menu"))
