"""Order-issue tickets: the follower's intake dialogue and status, support's ``#`` commands, the
worker's delivery to support (``delivery.py``) and the CLI (``cli.py``).

See ``intake.py`` for how a report becomes a ticket and ``delivery.py`` for how it reaches support.
"""
from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

from ...router import ADMIN, SUPPORT, Ctx, Matcher, Route, StaffCommand, hash_openid
from ...wechat.protocol import Message
from . import intake
from .ids import looks_like_id, normalize_id
from .intake import category_label, status_label
from .runtime import Runtime, build_runtime, format_time
from .shots import INSTALL_HINT, S3Shots, ShotStoreError, ShotSweep, minio_missing
from .store import STATUSES
from .support import MAX_NOTE, close_ticket, note_ticket, render_staff, reply_ticket
from .understanding import EXTRACT_CHARS, bare, classify, extract, mask_secrets, normalize, reports_nothing

if TYPE_CHECKING:
    from ...features.faq import FaqKnowledge
    from ...services import Services

# The console (wxbot.console) works tickets through these, as the # commands and the CLI do.
__all__ = ["TicketsFeature", "Runtime", "STATUSES", "category_label", "status_label", "close_ticket", "reply_ticket",
           "format_time", "looks_like_id", "normalize_id", "note_ticket", "MAX_NOTE", "ShotStoreError",
           # the doctor's check of the S3 screenshot store
           "INSTALL_HINT", "S3Shots", "minio_missing"]

STAFF_PAGE = 10  # tickets per `#工单` page (one WeChat text)

# A message that asks something rather than answers the bot's question.
_QUESTION = re.compile(r"[?？]|吗|怎么|怎样|如何|什么|啥|哪|为什么|为啥|多少|能不能|可不可以|是不是|有没有")


def _split_args(args: str) -> tuple[str, str]:
    """``ID rest`` -> (ID, rest): any whitespace separates them (full-width spaces, newlines)."""
    parts = args.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")



class TicketsFeature:
    """The ticket routes and staff commands.

    ``faq`` is consulted to leave FAQ questions to the FAQ in the middle of a report; ``passthrough``
    are other features' matchers whose messages a report in progress never takes (the password).
    """

    def __init__(self, services: "Services", faq: "FaqKnowledge", passthrough: list[Matcher]):
        self.services = services
        self.rt = build_runtime(services)
        self.faq = faq
        self.cfg = cfg = self.rt.cfg
        self._passthrough = passthrough
        self._words = {bare(w) for w in (*cfg.passthrough_words, *cfg.status_words, *cfg.human_words,
                                         *cfg.chat_words)}
        self._cancel_or_submit = {bare(w) for w in (*cfg.cancel_words, *cfg.submit_words)}
        self._status_words = {bare(w) for w in cfg.status_words}
        self._human_words = {bare(w) for w in cfg.human_words}
        self.start_intake = partial(intake.start_intake, self.rt)
        self.dialog = Route("tickets_dialog", self.in_dialog, partial(intake.continue_intake, self.rt),
                            replayable=False, in_dialog=True)
        self.status = Route("tickets_status", self.is_status, partial(intake.follower_status, self.rt))
        self.human = Route("tickets_human", self.is_human, self.human_contact)
        # 取消/提交 with no report in progress (the dialogue route takes them when there is one).
        self.no_report = Route("tickets_no_report", self.is_cancel_or_submit, lambda m, c: c.text("tickets.no_report"))
        self.intake = Route("tickets_intake", self.is_order_problem, self.start_intake, replayable=False)
        # what the FAQ's order entry hands over, unless it is no report ("要是付了钱没收到key怎么办")
        self.reports_nothing = reports_nothing

    # -- matchers ----------------------------------------------------------------------------
    def _faq_says(self, msg: Message, ctx: Ctx) -> str | None:
        """"answer" (a confident FAQ answer that is not the ticket entry), "tickets", "greeting" or None."""
        res = self.faq.result(msg, ctx)
        if res.kind == "answer" and res.entry is not None:
            return "tickets" if res.entry.route == "tickets" else "answer"
        return "greeting" if res.kind == "greeting" else None

    def _captures(self, msg: Message, ctx: Ctx, state: dict) -> bool:
        """Whether a text/voice message belongs to the report being collected. Only what carries
        something for it is taken; everything else goes on to the other features, and the partial
        report waits untouched."""
        text = msg.text or ""
        word = bare(text)
        if not word:
            return True  # an unrecognised voice message: the dialogue asks again
        if word in self._words:
            return False
        if word in self._cancel_or_submit:
            return True
        if any(match(msg, ctx) for match in self._passthrough):  # e.g. a password request, however phrased
            return False
        found = extract(mask_secrets(text[:EXTRACT_CHARS]))
        if found.order_no or found.amount or re.search(r"\d", found.paid_at):
            return True
        if classify(text, self.cfg) is not None:
            return True
        faq = self._faq_says(msg, ctx)
        if faq == "tickets":
            return True
        if faq is not None:
            return False
        asked_at = float(state.get("q") or state.get("t0") or 0)
        tune = self.rt.internals
        return (len(word) <= tune.short_answer_chars and 0 <= ctx.now - asked_at <= tune.answer_window
                and not _QUESTION.search(normalize(text)))

    def in_dialog(self, msg: Message, ctx: Ctx) -> bool:
        state = intake.dialog_state(ctx)
        if state is None:
            return False
        if state.get("st") == "attach":
            return msg.type == "image"
        if msg.type == "image":
            return True
        if msg.type not in ("text", "voice"):
            return False
        return self._captures(msg, ctx, state)

    def is_order_problem(self, msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and classify(msg.text, self.cfg) is not None

    def is_status(self, msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and bare(msg.text) in self._status_words

    def is_human(self, msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and bare(msg.text) in self._human_words

    def is_cancel_or_submit(self, msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and bare(msg.text) in self._cancel_or_submit

    def human_contact(self, msg: Message, ctx: Ctx) -> str:
        """Asking for a person is not an order problem: the contact, and how to report one."""
        reply = ctx.text("tickets.human")
        state = intake.dialog_state(ctx)
        if state is not None and state.get("st") == "collect":
            reply += "\n" + ctx.text("tickets.human_pending")
        return reply

    # -- staff -------------------------------------------------------------------------------
    def staff_commands(self) -> list[StaffCommand]:
        roles = frozenset({SUPPORT, ADMIN})
        return [
            StaffCommand("工单", roles, self._staff_list, "列出未关闭的工单；#工单 工单号 查看详情"),
            StaffCommand("回复", roles, self._staff_reply, "#回复 工单号 内容：回复用户"),
            StaffCommand("关闭", roles, self._staff_close, "#关闭 工单号 [说明]：关闭工单并通知用户"),
            StaffCommand("重开", roles, self._staff_reopen, "#重开 工单号 内容：重新打开已关闭的工单并回复用户"),
        ]

    def _staff_list(self, msg: Message, ctx: Ctx, args: str) -> str:
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        rt = self.rt
        if args and looks_like_id(args):
            rec = rt.store.get(normalize_id(args))
            if rec is None:
                return ctx.text("tickets.staff.not_found", id=normalize_id(args))
            return "\n".join(render_staff(rt, rec, ctx.texts))
        # `#工单 2`: the second page. A slice of the open and replied indexes, never the history.
        page_no = int(args) if args.strip().isdigit() and 0 < int(args) < 100_000 else 1
        size = STAFF_PAGE
        rt.store.ensure_indexes()
        page = rt.store.active((page_no - 1) * size, size)
        pages = max(1, -(-page.total // size))
        if not page.records:
            if page_no > 1 and page.total:
                return ctx.text("tickets.staff.page_empty", page=page_no, pages=pages)
            return ctx.text("tickets.staff.list_empty")
        lines = [ctx.text("tickets.staff.list_header", count=len(page.records))]
        for rec in page.records:
            lines.append(ctx.text("tickets.staff.list_line", id=rec["id"], status=intake.status_label(ctx.texts, rec),
                                  category=intake.category_label(ctx.texts, rec.get("category", "other")),
                                  order_no=rec.get("order_no") or "-", created=format_time(rec.get("created_at"), rt.zone)))
        if page_no < pages:
            lines.append(ctx.text("tickets.staff.list_more", total=page.total, page=page_no, pages=pages,
                                  next=page_no + 1))
        return "\n".join(lines)

    def _staff_reply(self, msg: Message, ctx: Ctx, args: str, reopen: bool = False) -> str:
        tid, text = _split_args(args)
        if not tid or not text:
            return ctx.text("tickets.staff.reopen_usage" if reopen else "tickets.staff.reply_usage")
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        status, tid = reply_ticket(self.rt, tid, text, "wechat:" + hash_openid(msg.from_user, self.services.log_salt),
                                   "wx:" + msg.dedupe_id, reopen=reopen)
        if status == "missing":
            return ctx.text("tickets.staff.not_found", id=tid)
        if status == "closed":
            rec = self.rt.store.get(tid) or {}
            return ctx.text("tickets.staff.reply_closed", id=tid, closed=format_time(rec.get("closed_at"), self.rt.zone))
        return ctx.text("tickets.staff.reopened" if reopen else "tickets.staff.replied", id=tid)

    def _staff_reopen(self, msg: Message, ctx: Ctx, args: str) -> str:
        return self._staff_reply(msg, ctx, args, reopen=True)

    def _staff_close(self, msg: Message, ctx: Ctx, args: str) -> str:
        tid, note = _split_args(args)
        if not tid:
            return ctx.text("tickets.staff.close_usage")
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        status, tid = close_ticket(self.rt, tid, note, "wx:" + msg.dedupe_id,
                                   by="wechat:" + hash_openid(msg.from_user, self.services.log_salt))
        if status == "missing":
            return ctx.text("tickets.staff.not_found", id=tid)
        if status == "already":
            return ctx.text("tickets.staff.already_closed", id=tid)
        return ctx.text("tickets.staff.closed", id=tid)

    def worker_tasks(self) -> list:
        from .delivery import TicketDelivery  # the worker's side: built by the worker only
        from .spool_import import SpoolImport

        tasks: list = [SpoolImport(self.rt), TicketDelivery(self.rt)]
        if self.rt.shots.s3 is not None:  # the bucket has no TTL: its screenshots are deleted on time here
            tasks.append(ShotSweep(self.rt.shots.s3, self.rt.internals.s3_sweep_interval))
        return tasks
