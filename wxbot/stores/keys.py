"""Every Redis key wxbot uses, in one place: ``wxbot:<area>:<id>``."""
from __future__ import annotations

PREFIX = "wxbot"


def dedupe(dedupe_id: str) -> str:
    return f"{PREFIX}:dedupe:{dedupe_id}"


def msg_counter(openid: str) -> str:
    return f"{PREFIX}:rl:msg:{openid}"


def feature_counter(feature: str, openid: str) -> str:
    return f"{PREFIX}:rl:{feature}:{openid}"


def dialog(openid: str) -> str:
    return f"{PREFIX}:dialog:{openid}"


def dialog_shots(openid: str) -> str:
    """List: screenshots sent during a ticket report (JSON each), same TTL as ``dialog``; the ticket
    creation script takes them, so images sent together are never lost to a read-modify-write."""
    return f"{PREFIX}:dialog_shots:{openid}"


def pending_replies(openid: str) -> str:
    """Support replies that WeChat refused to deliver (48-hour window); shown on the next message."""
    return f"{PREFIX}:pending:{openid}"


# -- tickets (wxbot.stores.tickets): durable support records, kept on unsubscribe --------------

def ticket(ticket_id: str) -> str:
    """Hash: one ticket's record (fields, status, screenshots ``shot:<n>``)."""
    return f"{PREFIX}:tickets:t:{ticket_id}"


def ticket_deliveries(ticket_id: str) -> str:
    """Hash: per-job, per-channel delivery state of one ticket (``<job>|<channel>`` -> JSON)."""
    return f"{PREFIX}:tickets:dl:{ticket_id}"


def ticket_replies(ticket_id: str) -> str:
    """List: support replies of one ticket (JSON, oldest first)."""
    return f"{PREFIX}:tickets:replies:{ticket_id}"


def ticket_source(source_id: str) -> str:
    """String: ticket id created (or action taken) for one inbound message/command, for idempotency."""
    return f"{PREFIX}:tickets:src:{source_id}"


def ticket_lease(ticket_id: str, job: str, channel: str) -> str:
    """String with TTL: one worker is attempting this channel of this job right now."""
    return f"{PREFIX}:tickets:lease:{ticket_id}:{job}:{channel}"


def tickets_of(openid: str) -> str:
    """Sorted set: a follower's ticket ids by creation time."""
    return f"{PREFIX}:tickets:by:{openid}"


def tickets_open_of(openid: str) -> str:
    """Set: a follower's tickets that are not closed (the open-ticket limit)."""
    return f"{PREFIX}:tickets:open:{openid}"


def tickets_rate(openid: str) -> str:
    """Counter with TTL: tickets a follower created in the current hour window."""
    return f"{PREFIX}:tickets:rate:{openid}"


TICKETS_STREAM = f"{PREFIX}:tickets:stream"  # delivery jobs (consumer group ``TICKETS_GROUP``)
TICKETS_GROUP = "delivery"
TICKETS_ALL = f"{PREFIX}:tickets:all"  # sorted set: every ticket id by creation time
TICKETS_RETRY = f"{PREFIX}:tickets:retry"  # sorted set: stream entry id -> next attempt time
TICKETS_DEAD = f"{PREFIX}:tickets:dead"  # sorted set: dead-lettered ticket id -> time
TICKETS_INDEXED = f"{PREFIX}:tickets:indexed"  # string: the per-status indexes cover every older ticket


def tickets_status(status: str, category: str = "") -> str:
    """Sorted set: ticket ids with this status (``all`` for any), optionally of one category, by
    creation time; the console's list pages read a slice of one of these, never the history."""
    return f"{PREFIX}:tickets:ix:{status}" + (f":{category}" if category else "")


def tickets_order(order_no: str) -> str:
    """Set: ticket ids that name this order number (upper case)."""
    return f"{PREFIX}:tickets:order:{order_no.upper()}"


def ticket_shot(ticket_id: str, n: int) -> str:
    """String with TTL: screenshot n of a ticket, base64 (the worker's fetch stores it)."""
    return f"{PREFIX}:tickets:shot:{ticket_id}:{n}"


def ticket_notes(ticket_id: str) -> str:
    """List: support's internal notes on a ticket (JSON each: at, by, text); never sent to the follower."""
    return f"{PREFIX}:tickets:notes:{ticket_id}"


# sorted set: "<ticket id>/<n>" -> the time screenshot n's object in the S3 bucket expires (the sweep
# deletes it then; the console serves none past it)
TICKETS_SHOTS_EXPIRY = f"{PREFIX}:tickets:s3shots"


def password_shown() -> str:
    """The password followers are shown (JSON snapshot, read by the webhook's claim)."""
    return f"{PREFIX}:password:shown"


def password_state() -> str:
    return f"{PREFIX}:password:state"


def password_audit() -> str:
    return f"{PREFIX}:password:audit"


def password_confirmed() -> str:
    """version -> unix time NextChat confirmed it."""
    return f"{PREFIX}:password:confirmed"


def password_sync_lock() -> str:
    return f"{PREFIX}:password:sync:lock"


def password_period(period_id: str) -> str:
    """Claimed by the one worker that runs the scheduled rotation of this period."""
    return f"{PREFIX}:password:period:{period_id}"


def faq_teachings() -> str:
    """Hash: teaching id -> JSON {entry, text, by, at}: phrasings admins taught, over faq.yaml."""
    return f"{PREFIX}:faq:teachings"


def faq_teachings_seq() -> str:
    """Counter: the last teaching id."""
    return f"{PREFIX}:faq:teachings:seq"


def faq_version() -> str:
    """Counter: bumped by every teach/unteach; each process recompiles its FAQ when it changes."""
    return f"{PREFIX}:faq:version"


def faq_unmatched() -> str:
    """Sorted set: normalised, masked questions the FAQ did not answer -> times asked (bounded)."""
    return f"{PREFIX}:faq:unmatched"


def stats_hour(hour: int) -> str:
    """Hash with TTL: the dashboard's counters of one hour (``hour`` = unix time // 3600), e.g.
    ``r:<route>`` messages by the route that took them (wxbot/stores/counters.py)."""
    return f"{PREFIX}:stats:h:{hour}"


WORKERS = f"{PREFIX}:workers"  # hash: worker process (host:pid) -> unix time of its last heartbeat
ALERTS_RECENT = f"{PREFIX}:alerts:recent"  # list: the latest alerts (JSON), newest first, capped


def faq_unmatched_seen(edge: str) -> str:
    """Hash: masked unmatched question -> unix time it was first (``first``) or last (``last``) asked."""
    return f"{PREFIX}:faq:unmatched:{edge}"


def faq_asked_day(day: int) -> str:
    """Sorted set with TTL: masked unmatched question -> times asked on this UTC day (epoch // 86400)."""
    return f"{PREFIX}:faq:asked:{day}"


def faq_edits() -> str:
    """Hash: edit id -> JSON {kind, entry, ..., by, at}: the console's FAQ edits over faq.yaml (ids shared
    with the teachings' sequence, so one number names a teaching or an edit)."""
    return f"{PREFIX}:faq:edits"


def text_overrides() -> str:
    """Hash: text key -> JSON {text, by, at, prev}: follower texts edited in the console, over texts.yaml."""
    return f"{PREFIX}:texts:overrides"


def texts_version() -> str:
    """Counter: bumped by every text edit or undo; each process re-layers its texts when it changes."""
    return f"{PREFIX}:texts:version"


def pending_taken(openid: str) -> str:
    """Support replies taken by a claim, kept until the reply showing them is built."""
    return pending_replies(openid) + ":taken"


def follower_keys(openid: str) -> list[str]:
    """Conversational state of one follower, deleted on unsubscribe (support records are kept)."""
    return [msg_counter(openid), dialog(openid), dialog_shots(openid), pending_replies(openid),
            pending_taken(openid)]


def audit_seen(dedupe_id: str) -> str:
    """Set with TTL: a message whose refusal is already in the audit log (retries add nothing)."""
    return f"{PREFIX}:audit:seen:{dedupe_id}"


AUDIT_LOG = f"{PREFIX}:audit"  # stream: one entry per admin or support action (see wxbot/audit.py)


# -- AI answers (wxbot/features/ai) -------------------------------------------------------------

def dedupe_deliveries(dedupe_id: str) -> str:
    """Counter: WeChat's deliveries of one message (counted by the claim for routes that ask)."""
    return dedupe(dedupe_id) + ":n"


def ai_question(dedupe_id: str) -> str:
    """Hash: one follower question for the model, keyed by the message (its tries share it)."""
    return f"{PREFIX}:ai:q:{dedupe_id}"


def ai_cache(faq_version: str, digest: str) -> str:
    """String: a checked answer for a normalised question under one FAQ version."""
    return f"{PREFIX}:ai:cache:{faq_version}:{digest}"


def ai_quota(day: str, openid: str) -> str:
    """Counter: model answers one follower got on ``day``."""
    return f"{PREFIX}:ai:quota:{day}:{openid}"


def ai_tokens(day: str) -> str:
    """Counter: tokens the model used on ``day``."""
    return f"{PREFIX}:ai:tokens:{day}"


AI_QUEUE = f"{PREFIX}:ai:queue"  # list: dedupe ids of questions waiting for a worker
AI_FAILURES = f"{PREFIX}:ai:failures"  # counter: consecutive failed model calls
AI_ANSWERS = f"{PREFIX}:ai:answers"  # hash: masked unmatched question -> JSON {answer, at}
AI_ANSWERS_ORDER = f"{PREFIX}:ai:answers:order"  # sorted set: masked question -> time (bounds the hash)
def signed_request(signature: str, timestamp: str, nonce: str) -> str:
    """String with TTL: the body hash first seen with one signed plaintext-mode URL (replay record)."""
    return f"{PREFIX}:signed:{signature.lower()}:{timestamp}:{nonce}"


AES_FAILURES = f"{PREFIX}:aes:failures"  # counter with TTL: correctly signed messages that did not decrypt
AES_DECRYPTED = f"{PREFIX}:aes:decrypted"  # set with TTL whenever messages decrypt (written once a minute)
AES_MISMATCH = f"{PREFIX}:aes:mismatch"  # unix time the mismatch was detected; cleared by a decrypting message
REDIS_MARKER = f"{PREFIX}:meta:initialised"  # JSON {id, at}: this deployment initialised this Redis
BOT_CONFIG_LOADED = f"{PREFIX}:meta:bot_yaml"  # hash: process role (web, worker) -> JSON {fingerprint, at, pid}


def admin_throttle(client: str) -> str:
    """Counter with TTL: failed admin API authorisations of one client address."""
    return f"{PREFIX}:admin:fails:{client}"


TICKETS_HELD = f"{PREFIX}:tickets:held"  # sorted set: ticket id -> time, held back by the global intake cap
TICKETS_INTAKE_HOUR = f"{PREFIX}:tickets:intake"  # counter with TTL: tickets created in the current hour

# -- the console (wxbot.console) -------------------------------------------------------------------

CONSOLE_USERS = f"{PREFIX}:console:users"  # set: every console user name


def console_user(name: str) -> str:
    """Hash: one console user (role, argon2 hash, session generation ``gen``, times)."""
    return f"{PREFIX}:console:user:{name}"


def console_session(sid: str) -> str:
    """Hash with TTL: one signed-in browser (user, the user's generation then, sign-in and last use)."""
    return f"{PREFIX}:console:session:{sid}"


def console_throttle(kind: str, who: str) -> str:
    """Hash with TTL: failed sign-ins of one user name or client address (count, last failure)."""
    return f"{PREFIX}:console:throttle:{kind}:{who}"


# -- the WeCom robot's shared budget (wxbot.notifiers.throttle) and the tickets' digest ---------------
# ``robot`` is a hash of the webhook key (throttle.robot_id), never the key.

def wecom_sent(robot: str) -> str:
    """Sorted set: the robot's messages of the last minute (member -> send time)."""
    return f"{PREFIX}:wecom:sent:{robot}"


def wecom_hold(robot: str) -> str:
    """String with TTL: unix time before which nothing is sent to the robot (45009, Retry-After)."""
    return f"{PREFIX}:wecom:hold:{robot}"


def wecom_digest(robot: str, part: str) -> str:
    """Ticket texts waiting for the robot: ``queue`` (zset item -> enqueued), ``inflight`` (zset item ->
    lease end), ``texts`` (hash item -> markdown); an item is ``<ticket id>|<job>``."""
    return f"{PREFIX}:wecom:digest:{robot}:{part}"


WECHAT_QUOTA_SPENT = f"{PREFIX}:wechat:quota_spent"  # unix time the MP API's daily quota resets (45009)
