"""Order-issue tickets in Redis: one record per ticket, its indexes, and a Stream of delivery jobs.

Every state change that creates work for the worker (a new ticket, a screenshot added later, a support
reply, a close) is ONE Lua script that writes the record *and* appends the job to the Stream, keyed by
the id of the message or command that caused it, so a retried or concurrent duplicate never does it
twice. The worker (``wxbot.tickets_worker``) consumes the Stream with a consumer group and records
per-job, per-channel delivery state in ``keys.ticket_deliveries(id)``. The scripts are in ``scripts.py``.

When Redis is unreachable at intake, reports are appended to a spool file under ``WXBOT_DATA_DIR``
(``spool.py``: one fsynced JSON line each, carrying the message's dedupe id and the ticket id the
follower was told) and moved into Redis by the worker later, idempotently.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Iterable

import redis

from ...stores import keys
from . import scripts
from .ids import random_part

STATUS_OPEN = "open"
STATUS_REPLIED = "replied"
STATUS_CLOSED = "closed"
STATUSES = (STATUS_OPEN, STATUS_REPLIED, STATUS_CLOSED)


def _index_keys(status: str, category: str) -> list[str]:
    return [keys.tickets_status(status), keys.tickets_status(status, category or "other")]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a ticket list: the records, how many match in all, and the requested slice."""

    records: list[dict[str, str]]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of a write: ``status`` is ok / dup / collision / limit_open / limit_rate / missing /
    already / limit; ``value`` the ticket id (create), the item number (reply, screenshot) or a count."""

    status: str
    value: str = ""
    count: int = 0  # create: screenshots taken from the dialogue
    held: str = ""  # create: "held" (over the global hourly cap: not sent on), "first" (the first such)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Limits:
    max_open: int
    max_per_hour: int
    source_ttl: int  # seconds a message id -> ticket mapping is kept (idempotency window)
    dialog_ttl: int
    max_per_hour_global: int = 0  # tickets of all followers per hour before new ones are held (0: none)


class TicketStore:
    """Ticket records, indexes and delivery jobs. Every method is one round trip unless noted."""

    def __init__(self, client: redis.Redis, limits: Limits):
        self.r = client
        self.limits = limits
        self._create = client.register_script(scripts.CREATE)
        self._attach = client.register_script(scripts.ATTACH)
        self._reply = client.register_script(scripts.REPLY)
        self._close = client.register_script(scripts.CLOSE)
        self._shot = client.register_script(scripts.SHOT)
        self._save = client.register_script(scripts.SAVE)
        self._release = client.register_script(scripts.RELEASE)
        self._reopen = client.register_script(scripts.REOPEN)
        self._note = client.register_script(scripts.NOTE)

    # -- writes ----------------------------------------------------------------------------------
    def create(self, ticket_id: str, openid: str, source: str, fields: dict[str, Any], now: float,
               dialog_after: str = "", check_limits: bool = True, attempts: int = 5,
               take_shots: bool = False, max_shots: int = 3) -> Result:
        """Write the record, index it, count it, enqueue its delivery and set/clear the follower's
        dialogue state (``dialog_after``: JSON to set, "" to delete, "=" to leave), atomically.
        With ``take_shots`` the screenshots collected in ``keys.dialog_shots(openid)`` (at most
        ``max_shots``) become the ticket's, and the dialogue is ended when that is the maximum.
        The same ``source`` (message dedupe id) always yields the same ticket. On an id collision a
        fresh id is drawn (the returned value is the id used)."""
        record = dict(fields)
        record.update(id=ticket_id, openid=openid, source=source, status=STATUS_OPEN,
                      created_at=repr(now), updated_at=repr(now))
        for _ in range(attempts):
            record["id"] = ticket_id
            flat: list[str] = []
            for k, v in record.items():
                flat += [k, "" if v is None else str(v)]
            category = str(record.get("category") or "other")
            order_no = str(record.get("order_no") or "").strip()
            status, value, *rest = self._create(
                keys=[keys.ticket(ticket_id), keys.ticket_source(source), keys.TICKETS_STREAM,
                      keys.tickets_of(openid), keys.tickets_open_of(openid), keys.tickets_rate(openid),
                      keys.TICKETS_ALL, keys.dialog(openid), keys.dialog_shots(openid), keys.TICKETS_INTAKE_HOUR,
                      keys.TICKETS_HELD, *_index_keys(STATUS_OPEN, category), keys.tickets_status("all", category),
                      *([keys.tickets_order(order_no)] if order_no else [])],
                args=[ticket_id, repr(now), self.limits.max_open, self.limits.max_per_hour, self.limits.source_ttl,
                      dialog_after, self.limits.dialog_ttl, "1" if check_limits else "0", 3600,
                      "1" if take_shots else "0", max_shots, self.limits.max_per_hour_global, *flat],
            )
            if status != "collision":
                return Result(status, value, int(rest[0]) if rest else 0, rest[1] if len(rest) > 1 else "")
            ticket_id = ticket_id[:7] + random_part(4 + (_ % 3))  # same date, a longer random part
        return Result("collision")

    def add_screenshot(self, ticket_id: str, source: str, shot: dict, now: float, max_shots: int,
                       openid: str = "", dialog_after: str = "") -> Result:
        status, value = self._attach(
            keys=[keys.ticket(ticket_id), keys.ticket_source(source), keys.TICKETS_STREAM,
                  keys.dialog(openid) if openid else keys.ticket_source(source + ":d")],
            args=[json.dumps(shot, ensure_ascii=False), self.limits.source_ttl, max_shots, dialog_after,
                  self.limits.dialog_ttl, repr(now), ticket_id],
        )
        return Result(status, value)

    def add_dialog_shot(self, openid: str, source: str, shot: dict, max_shots: int) -> Result:
        """Add a screenshot to the report being collected: ok (value = its number), full, attach
        (value = the ticket created meanwhile) or gone (no dialogue any more)."""
        status, value = self._shot(
            keys=[keys.dialog(openid), keys.dialog_shots(openid)],
            args=[json.dumps(dict(shot, msg=source), ensure_ascii=False), max_shots, self.limits.dialog_ttl, source],
        )
        return Result(status, value)

    def save_dialog(self, openid: str, state: str, expected: str) -> Result:
        """Compare-and-set the dialogue JSON: ok (value = screenshots collected so far) or changed
        (value = the dialogue's current JSON, "" when it is gone)."""
        status, value = self._save(keys=[keys.dialog(openid), keys.dialog_shots(openid)],
                                   args=[state, self.limits.dialog_ttl, expected])
        return Result(status, value)

    def end_dialog(self, openid: str) -> None:
        self.r.delete(keys.dialog(openid), keys.dialog_shots(openid))

    def add_reply(self, ticket_id: str, text: str, by: str, source: str, now: float,
                  reopen: bool = False) -> Result:
        """Status ``closed`` (value: closed_at) when the ticket is closed and ``reopen`` is not given."""
        entry = json.dumps({"at": now, "by": by, "text": text}, ensure_ascii=False)
        openid, category = self._owner(ticket_id)
        status, value = self._reply(
            keys=[keys.ticket(ticket_id), keys.ticket_source(source), keys.TICKETS_STREAM,
                  keys.ticket_replies(ticket_id), *_index_keys(STATUS_OPEN, category),
                  *_index_keys(STATUS_REPLIED, category), *_index_keys(STATUS_CLOSED, category),
                  keys.tickets_open_of(openid or "")],
            args=[entry, self.limits.source_ttl, repr(now), ticket_id, "1" if reopen else "0"],
        )
        return Result(status, value)

    def _owner(self, ticket_id: str) -> tuple[str | None, str]:
        """(the ticket's follower, its category, which never changes); (None, "other") when it is missing."""
        openid, category = self.r.hmget(keys.ticket(ticket_id), ["openid", "category"])
        return openid, category or "other"

    def close(self, ticket_id: str, source: str, now: float, note: str = "") -> Result:
        openid, category = self._owner(ticket_id)
        if openid is None:
            return Result("missing")
        status, value = self._close(
            keys=[keys.ticket(ticket_id), keys.ticket_source(source), keys.TICKETS_STREAM,
                  keys.tickets_open_of(openid), *_index_keys(STATUS_OPEN, category),
                  *_index_keys(STATUS_REPLIED, category), *_index_keys(STATUS_CLOSED, category)],
            args=[repr(now), note, ticket_id, self.limits.source_ttl],
        )
        return Result(status, value)

    def reopen(self, ticket_id: str, source: str, now: float) -> Result:
        """A closed ticket is open again: ok, missing, not_closed or dup (the same source twice)."""
        openid, category = self._owner(ticket_id)
        if openid is None:
            return Result("missing")
        status, value = self._reopen(
            keys=[keys.ticket(ticket_id), keys.ticket_source(source), keys.tickets_open_of(openid),
                  *_index_keys(STATUS_CLOSED, category), *_index_keys(STATUS_OPEN, category)],
            args=[repr(now), ticket_id, self.limits.source_ttl],
        )
        return Result(status, value)

    def add_note(self, ticket_id: str, text: str, by: str, source: str, now: float) -> Result:
        """An internal note (ok: value = its number; missing; dup). Notes are for support and admins only."""
        entry = json.dumps({"at": now, "by": by, "text": text}, ensure_ascii=False)
        status, value = self._note(keys=[keys.ticket(ticket_id), keys.ticket_source(source),
                                         keys.ticket_notes(ticket_id)],
                                   args=[entry, self.limits.source_ttl])
        return Result(status, value)

    def update_screenshot(self, ticket_id: str, n: int, shot: dict) -> None:
        self.r.hset(keys.ticket(ticket_id), f"shot:{n}", json.dumps(shot, ensure_ascii=False))

    # -- reads -----------------------------------------------------------------------------------
    def get(self, ticket_id: str) -> dict[str, str] | None:
        data = self.r.hgetall(keys.ticket(ticket_id))
        return data or None

    def screenshots(self, record: dict[str, str]) -> dict[int, dict]:
        out = {}
        for k, v in record.items():
            if k.startswith("shot:"):
                try:
                    out[int(k[5:])] = json.loads(v)
                except ValueError:
                    continue
        return dict(sorted(out.items()))

    def replies(self, ticket_id: str) -> list[dict]:
        return [json.loads(x) for x in self.r.lrange(keys.ticket_replies(ticket_id), 0, -1)]

    def notes(self, ticket_id: str) -> list[dict]:
        """Support's internal notes, oldest first (at, by, text)."""
        return [json.loads(x) for x in self.r.lrange(keys.ticket_notes(ticket_id), 0, -1)]

    def reply(self, ticket_id: str, n: int) -> dict | None:
        raw = self.r.lindex(keys.ticket_replies(ticket_id), n - 1)
        return json.loads(raw) if raw else None

    def many(self, ids: Iterable[str]) -> list[dict[str, str]]:
        ids = list(ids)
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(keys.ticket(tid))
        return [rec for rec in pipe.execute() if rec]

    def of_follower(self, openid: str, limit: int) -> list[dict[str, str]]:
        return self.many(self.r.zrevrange(keys.tickets_of(openid), 0, limit - 1))

    def page(self, status: str = "all", category: str = "", since: float | None = None, offset: int = 0,
             limit: int = 50) -> Page:
        """Newest first, a slice of one index (``status``: open / replied / closed / all; ``since``:
        created at or after): three round trips whatever the history's size. A record found under
        the wrong status (indexed while it changed) is dropped from that index as it is seen."""
        if status == "all" and not category:
            key = keys.TICKETS_ALL
        else:
            key = keys.tickets_status(status, category)
        low = "-inf" if since is None else repr(since)
        pipe = self.r.pipeline(transaction=False)
        pipe.zrevrangebyscore(key, "+inf", low, start=offset, num=limit)
        pipe.zcount(key, low, "+inf")
        ids, total = pipe.execute()
        records = self.many(ids)
        if status != "all":
            stale = [rec["id"] for rec in records if rec.get("status") != status]
            if stale:
                self.r.zrem(key, *stale)
                records = [rec for rec in records if rec.get("status") == status]
        return Page(records, int(total), offset, limit)

    def active(self, offset: int = 0, limit: int = 10) -> Page:
        """Open and replied tickets together, newest first: the top ``offset + limit`` of the two
        per-status indexes merged (two round trips and the page's records, whatever the history)."""
        want = max(0, offset) + max(0, limit)
        pipe = self.r.pipeline(transaction=False)
        for status in (STATUS_OPEN, STATUS_REPLIED):
            pipe.zrevrange(keys.tickets_status(status), 0, want - 1, withscores=True)
        for status in (STATUS_OPEN, STATUS_REPLIED):
            pipe.zcard(keys.tickets_status(status))
        opened, replied, n_open, n_replied = pipe.execute()
        merged: dict[str, float] = {}
        for tid, score in (*opened, *replied):
            merged[tid] = score
        ids = [tid for tid, _ in sorted(merged.items(), key=lambda x: (-x[1], x[0]))][offset:want]
        records = [rec for rec in self.many(ids) if rec.get("status") in (STATUS_OPEN, STATUS_REPLIED)]
        return Page(records, int(n_open) + int(n_replied), offset, limit)

    def by_order(self, order_no: str, limit: int = 50) -> list[dict[str, str]]:
        ids = sorted(self.r.smembers(keys.tickets_order(order_no.strip())), reverse=True)[:limit]
        return sorted(self.many(ids), key=lambda rec: float(rec.get("created_at") or 0), reverse=True)

    def newer_than(self, since: float, limit: int = 50) -> list[dict[str, str]]:
        """Tickets created after ``since`` (the console's poll), newest first."""
        return self.many(self.r.zrevrangebyscore(keys.TICKETS_ALL, "+inf", f"({since!r}", start=0, num=limit))

    def ensure_indexes(self, batch: int = 500) -> int:
        """Index tickets created before the per-status indexes existed (once; every write since keeps
        them). Returns how many were indexed now."""
        if self.r.get(keys.TICKETS_INDEXED):
            return 0
        done = 0
        start = 0
        while True:
            ids = self.r.zrange(keys.TICKETS_ALL, start, start + batch - 1, withscores=True)
            if not ids:
                break
            pipe = self.r.pipeline(transaction=False)
            for tid, _score in ids:
                pipe.hmget(keys.ticket(tid), ["status", "category", "order_no"])
            rows = pipe.execute()
            pipe = self.r.pipeline(transaction=False)
            for (tid, score), (status, category, order_no) in zip(ids, rows):
                if status is None:
                    continue
                category = category or "other"
                for key in (*_index_keys(status, category), keys.tickets_status("all", category)):
                    pipe.zadd(key, {tid: score})
                if order_no:
                    pipe.sadd(keys.tickets_order(order_no), tid)
                done += 1
            pipe.execute()
            start += batch
        self.r.set(keys.TICKETS_INDEXED, "1")
        return done

    def put_screenshot(self, ticket_id: str, n: int, data: bytes, ttl: int) -> None:
        """Keep screenshot n in Redis for ``ttl`` seconds (base64: the client decodes replies as text)."""
        self.r.set(keys.ticket_shot(ticket_id, n), base64.b64encode(data).decode("ascii"), ex=max(1, int(ttl)))

    def get_screenshot(self, ticket_id: str, n: int) -> bytes | None:
        raw = self.r.get(keys.ticket_shot(ticket_id, n))
        if not raw:
            return None
        try:
            return base64.b64decode(raw, validate=True)
        except (ValueError, TypeError):
            return None

    def counts_of(self, openid: str) -> tuple[int, int]:
        """(open tickets, tickets this hour) of a follower: the intake pre-check (creation re-checks)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.scard(keys.tickets_open_of(openid))
        pipe.get(keys.tickets_rate(openid))
        open_, rate = pipe.execute()
        return int(open_), int(rate or 0)

    # -- delivery state --------------------------------------------------------------------------
    def deliveries(self, ticket_id: str) -> dict[str, dict]:
        raw = self.r.hgetall(keys.ticket_deliveries(ticket_id))
        return {k: json.loads(v) for k, v in raw.items()}

    def held_ids(self) -> list[str]:
        """Tickets held back by the global intake cap, oldest first."""
        return self.r.zrange(keys.TICKETS_HELD, 0, -1)

    def release(self, ticket_id: str) -> bool:
        """Send a held ticket on to support (False: it was not held)."""
        return bool(self._release(keys=[keys.ticket(ticket_id), keys.TICKETS_HELD, keys.TICKETS_STREAM],
                                  args=[ticket_id]))

    def dead_ids(self) -> list[str]:
        return self.r.zrange(keys.TICKETS_DEAD, 0, -1)

    def dead_among(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` have a dead-lettered delivery (one round trip; none for no ids)."""
        if not ids:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.zscore(keys.TICKETS_DEAD, tid)
        return {tid for tid, score in zip(ids, pipe.execute()) if score is not None}

    def requeue(self, ticket_id: str) -> int:
        """Reset dead-lettered channels of a ticket to pending and enqueue their jobs again.

        Returns the number of jobs enqueued. Channels already delivered stay delivered.
        """
        state = self.deliveries(ticket_id)
        jobs: dict[str, list[str]] = {}
        for name, st in state.items():
            if st.get("s") == "dead":
                job, _, channel = name.partition("|")
                jobs.setdefault(job, []).append(name)
        pipe = self.r.pipeline(transaction=True)
        for job, fields in jobs.items():
            for field in fields:
                old = state[field]
                pipe.hset(keys.ticket_deliveries(ticket_id), field,
                          json.dumps({"s": "pending", "a": 0, "n": 0, "e": old.get("e", ""), "requeued": time.time()}))
            kind, ref = split_job(job)
            pipe.xadd(keys.TICKETS_STREAM, {"t": ticket_id, "k": kind, "r": ref})
        pipe.zrem(keys.TICKETS_DEAD, ticket_id)
        pipe.execute()
        return len(jobs)


def job_name(kind: str, ref: str) -> str:
    return f"{kind}{ref}" if ref else kind


def split_job(job: str) -> tuple[str, str]:
    kind = job.rstrip("0123456789")
    return kind, job[len(kind):]
