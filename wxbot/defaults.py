"""Internal constants: timeouts, batch sizes, leases and other systems' fixed limits.

These are not decisions an admin makes, so they are not in ``config/bot.yaml`` (which holds policy:
see ``wxbot.policy.BotConfig``). Each area is a frozen dataclass whose fields carry their meaning in
the docstring after them. Tests change them in-process through the factory
(``create_app(settings, internals=...)`` / ``build_services(settings, internals=...)``) and, for real
``gunicorn`` or ``wxbot worker`` subprocesses, through the test-only environment variable
``WXBOT_TEST_INTERNALS``: JSON such as ``{"tickets": {"reclaim_idle": 0.6}}``. Unknown names are refused.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Webhook:
    timestamp_window: int = 300
    """Seconds either side of now a signed timestamp is accepted (WeChat's servers keep NTP time)."""
    max_body_bytes: int = 65536
    """Bodies larger than this get 413; WeChat's largest messages are a few kilobytes."""
    dedupe_ttl: float = 600.0
    """Seconds a MsgId (or event key) and its reply are remembered: twice the timestamp window, so
    a signed request replayed at the edge of the window is still recognised."""
    pending_wait: float = 3.0
    """A concurrent retry of a side-effect route waits this long for the first delivery's reply."""
    reply_deadline: float = 4.5
    """WeChat gives up on a reply at 5 s; wxbot answers by this."""
    claim_lease: float = 5.0
    """A side-effect route's claim whose holder never stored an outcome (it crashed) is taken over by
    the next delivery after this long: a little over the reply deadline, so WeChat's retry at ~5 s
    or ~10 s does it."""
    aes_mismatch_after: int = 3
    """This many correctly signed messages failing to decrypt within ``aes_mismatch_window``, and none
    decrypting, mean the EncodingAESKey differs from the MP console's: one admin alert."""
    aes_mismatch_window: int = 600
    """Seconds of that window."""
    decrypted_mark_interval: float = 60.0
    """A process notes "messages decrypt" in Redis at most this often (not once per message)."""
    fault_kill_after_claim: str = ""
    """Test only: a file path; when it exists, the web process deletes it and SIGKILLs itself right
    after the claim of a side-effect route (the crash the claim lease recovers from)."""
    config_reload_interval: float = 1.0
    """How often texts.yaml and faq.yaml are checked for edits (a stat, never on every message)."""


@dataclass(frozen=True)
class Admin:
    max_failures: int = 10
    """Wrong admin tokens from one client address within ``failure_window``, then 429."""
    failure_window: int = 600
    """Seconds of that window (and the longest ``Retry-After``)."""
    min_token_chars: int = 32
    """A shorter WXBOT_ADMIN_TOKEN switches the admin API off (404) until it is replaced."""
    audit_retention: int = 10_000
    """Entries kept in the audit log (a Redis Stream capped approximately)."""


@dataclass(frozen=True)
class Redis:
    socket_timeout: float = 0.25
    """Per-command socket timeout: a hung Redis costs a request this much, not WeChat's 5 s."""
    connect_timeout: float = 0.25
    """Connect timeout, same reasoning."""
    breaker_seconds: float = 1.0
    """After a Redis failure, skip Redis this long (degraded answers) instead of paying a timeout per message."""
    sentinel_check_interval: float = 1.0
    """With Sentinel: ask which server is the master this often."""
    embedded_start_timeout: float = 10.0
    """With no REDIS_URL: how long to wait for the embedded redis-server to answer."""
    min_version: str = "6.2"
    """The oldest Redis server wxbot works with: ZMSCORE (the screenshots' expiry), XAUTOCLAIM (taking
    over a dead worker's ticket jobs), ZUNION (the week's unmatched questions) and XTRIM MINID (the
    tickets stream's trim) are Redis 6.2 commands. ``wxbot doctor`` fails below it."""


@dataclass(frozen=True)
class Http:
    connect_timeout: float = 3.0
    """Outbound HTTP connect timeout (WeChat API, webhooks, NextChat sync)."""
    read_timeout: float = 5.0
    """Outbound HTTP read timeout; callers add an overall deadline of their own."""
    retry_after_max: float = 600.0
    """A receiver's ``Retry-After`` (on HTTP 429/503, any channel) is honoured up to this many seconds."""


@dataclass(frozen=True)
class Worker:
    idle_sleep: float = 0.5
    """Pause of the worker loop when no task had work."""
    redis_retry_sleep: float = 1.0
    """Pause after a task found Redis unreachable."""
    heartbeat_interval: float = 10.0
    """How often a worker notes in Redis that it is alive (the console's dashboard shows it); a worker
    silent for three intervals is shown as stopped."""
    heartbeat_stale_beats: int = 3
    """A worker whose last heartbeat is older than this many heartbeat intervals is not running:
    ``wxbot doctor`` warns when no worker is fresher (tickets and scheduled rotations wait)."""


@dataclass(frozen=True)
class WeChatAPI:
    token_refresh_margin: int = 300
    """Refresh the access token this many seconds before it expires."""
    lock_ttl: float = 10.0
    """Lease of the lock one process holds while it fetches a new access token."""
    lock_wait: float = 5.0
    """How long other processes wait for that token before fetching one themselves."""
    timeout: float = 5.0
    """Overall deadline of one WeChat API call."""


@dataclass(frozen=True)
class Alerts:
    deadline: float = 5.0
    """Per delivery attempt of an alert to one channel."""
    max_attempts: int = 5
    """A failing channel is retried this many times, then the alert is dropped (and logged)."""
    retry_delay: float = 60.0
    """Wait before retrying a channel that failed."""
    redis_check_interval: float = 1.0
    """How often the worker pings Redis to notice an outage."""
    marker_check_interval: float = 60.0
    """How often the worker checks that Redis still holds the deployment's marker (restarted empty?)."""


@dataclass(frozen=True)
class Metrics:
    push_interval: float = 10.0
    """The worker adds its counters to Redis (shown by every web process's /metrics) this often."""


@dataclass(frozen=True)
class Password:
    alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
    """Generated passwords use these characters (no 0/O/o/1/l/I, which followers mistype)."""
    contains_max_len: int = 12
    """A message containing a password word asks for it only when this short (after normalising)."""
    valid_until_format: str = "%Y-%m-%d %H:%M"
    """How a validity time is shown to followers."""
    drop_expired: bool = True
    """When a grace period ends, one more sync tells NextChat to drop the old code."""
    sync_deadline: float = 20.0
    """Per sync attempt, including the receiver restarting NextChat."""
    sync_retry_base: float = 5.0
    """Failed syncs retry after 5, 10, 20 ... seconds (±20%)."""
    sync_retry_max: float = 600.0
    """Cap of that backoff."""
    audit_max: int = 500
    """Rotations kept in the history list."""


@dataclass(frozen=True)
class Faq:
    max_candidates: int = 3
    """Options listed in "which one did you mean?"."""
    max_chars: int = 200
    """Messages are cut to this many characters before matching (bounded CPU)."""
    fuzzy_min_len: int = 5
    """ASCII words this long also match one typo away (librechta -> librechat)."""
    unmatched_max: int = 1000
    """Distinct unanswered questions kept; the least asked are dropped."""
    unmatched_chars: int = 60
    """A stored unanswered question is cut to this many characters."""
    cache_size: int = 4096
    """Match results of recent messages kept per process and FAQ version (0: off)."""
    reload_in_background: bool = True
    """Recompile an edited faq.yaml or new teachings in a thread; requests keep the current FAQ meanwhile."""


@dataclass(frozen=True)
class Tickets:
    max_description_chars: int = 500
    """A report's description is cut to this many characters."""
    status_limit: int = 5
    """Tickets listed when a follower sends 工单/进度."""
    source_ttl: int = 7 * 86400
    """How long a message id -> ticket mapping is kept (no double tickets from retries)."""
    short_answer_chars: int = 20
    """Mid-report, a reply this short (and not a question) right after the bot asked is an answer."""
    answer_window: int = 180
    """... if it comes within this many seconds of the bot's last question."""
    block_ms: int = 100
    """XREADGROUP BLOCK of the delivery loop; below the Redis socket timeout."""
    batch: int = 10
    """Stream entries read per step."""
    reclaim_idle: float = 60.0
    """An entry pending this long with a silent worker is taken over (XAUTOCLAIM)."""
    reclaim_interval: float = 5.0
    """How often a worker looks for such entries."""
    max_attempts: int = 8
    """Attempts per channel, then dead-letter and an admin alert (`wxbot tickets retry`)."""
    backoff_initial: float = 2.0
    """Retries after ~2, 4, 8 ... seconds (+ up to backoff_jitter), capped at backoff_max."""
    backoff_max: float = 600.0
    """Cap of the delivery backoff."""
    backoff_jitter: float = 2.0
    """Random extra delay of each retry."""
    attempt_deadline: float = 10.0
    """Overall deadline of one delivery attempt."""
    lease_margin: float = 5.0
    """A delivery's lease is its deadline plus this."""
    screenshot_max_bytes: int = 2 * 1024 * 1024
    """The WeCom robot's image limit."""
    screenshot_deadline: float = 15.0
    """Overall deadline of fetching one screenshot."""
    markdown_limit: int = 4096
    """The WeCom robot's markdown limit, in bytes."""
    spool_interval: float = 2.0
    """How often the worker looks for reports spooled while Redis was down."""
    trim_interval: float = 3600.0
    """How often acknowledged stream entries are trimmed."""
    stream_retention: int = 7 * 86400
    """Acknowledged stream entries older than this are trimmed."""
    screenshot_retention: int = 90 * 86400
    """Seconds a fetched screenshot is kept in Redis or, when configured, the S3 bucket (where every
    web process can serve it); at most ``screenshot_max_bytes`` each."""
    s3_timeout: float = 5.0
    """Connect and read timeout of one S3 request (a console page waits for it)."""
    s3_sweep_interval: float = 600.0
    """How often the worker deletes screenshots past their retention from the S3 bucket."""


@dataclass(frozen=True)
class Console:
    idle_timeout: float = 2 * 3600
    """A console session unused this long is over (the user signs in again)."""
    absolute_timeout: float = 12 * 3600
    """A console session is over this long after sign-in, however busy."""
    throttle_free_user: int = 3
    """Failed sign-ins of one user name before each next attempt must wait."""
    throttle_free_address: int = 10
    """The same for one client address (an office shares one)."""
    throttle_base: float = 1.0
    """The first wait after the free attempts; it doubles with each further failure ..."""
    throttle_max: float = 60.0
    """... up to this many seconds. Never a lockout: the owner can always sign in after at most this."""
    throttle_window: float = 3600.0
    """Failures are forgotten this long after the last one."""
    page_size: int = 50
    """Tickets per list page."""
    poll_interval: float = 10.0
    """Seconds between the ticket list's checks for new tickets."""
    audit_limit: int = 200
    """Audit entries on the audit page."""
    min_password_length: int = 10
    """Console user passwords are at least this long."""
    hash_profile: str = "RFC_9106_LOW_MEMORY"
    """The ``argon2.profiles`` parameters console passwords are hashed with (argon2-cffi's default,
    about 0.15 s a hash). Tests set ``CHEAPEST``; a hash made with other parameters still verifies and
    is redone with these at the next sign-in."""


@dataclass(frozen=True)
class Ai:
    wechat_timeout: float = 5.0
    """WeChat stops waiting for a reply this long after it sent the message, then tries again."""
    hold_margin: float = 0.3
    """Tries 1 and 2 keep waiting this long past ``wechat_timeout`` (WeChat is gone by then), so an
    answer that is not ready is left to the next try instead of ending the tries with ``success``."""
    tries: int = 3
    """WeChat's deliveries of one message; the last always gets a reply by ``webhook.reply_deadline``."""
    poll_interval: float = 0.05
    """A waiting webhook thread checks for the answer this often (one short GET: no connection is
    held across the wait, and none past the Redis socket timeout)."""
    question_chars: int = 300
    """A follower's question is cut to this many characters before it reaches the model."""
    connect_timeout: float = 3.0
    """Connect timeout of a model call (the call's overall deadline is bot.yaml's ai.call_deadline)."""
    doctor_timeout: float = 10.0
    """``wxbot doctor``'s one tiny model call."""
    answers_max: int = 1000
    """AI answers kept for admins beside the unmatched questions; the oldest are dropped."""


@dataclass(frozen=True)
class Internals:
    webhook: Webhook = field(default_factory=Webhook)
    admin: Admin = field(default_factory=Admin)
    redis: Redis = field(default_factory=Redis)
    http: Http = field(default_factory=Http)
    worker: Worker = field(default_factory=Worker)
    wechat_api: WeChatAPI = field(default_factory=WeChatAPI)
    alerts: Alerts = field(default_factory=Alerts)
    metrics: Metrics = field(default_factory=Metrics)
    password: Password = field(default_factory=Password)
    faq: Faq = field(default_factory=Faq)
    tickets: Tickets = field(default_factory=Tickets)
    ai: Ai = field(default_factory=Ai)
    console: Console = field(default_factory=Console)

    def override(self, changes: dict[str, dict[str, Any]]) -> "Internals":
        """A copy with ``{"area": {"name": value}}`` applied; unknown areas or names raise ValueError."""
        areas = {f.name for f in dataclasses.fields(self)}
        updated = {}
        for area, values in changes.items():
            if area not in areas or not isinstance(values, dict):
                raise ValueError(f"unknown internals area {area!r}")
            current = getattr(self, area)
            names = {f.name for f in dataclasses.fields(current)}
            unknown = sorted(set(values) - names)
            if unknown:
                raise ValueError(f"unknown internal {area}.{unknown[0]}")
            updated[area] = dataclasses.replace(current, **values)
        return dataclasses.replace(self, **updated)

    @classmethod
    def from_json(cls, text: str | None) -> "Internals":
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object of areas")
        return cls().override(data)
