"""Where fetched screenshots live, so that every web process on any host can serve them.

* **Redis** (the default): one string per screenshot, at most ``screenshot_max_bytes``, expiring after
  ``screenshot_retention`` (``TicketStore.put_screenshot``).
* **An S3-compatible bucket** when ``WXBOT_S3_ENDPOINT``/``_BUCKET``/``_ACCESS_KEY``/``_SECRET_KEY`` are
  set (the ``minio`` client: ``pip install 'wxbot[s3]'``). Object ``tickets/<id>/<n>`` with its content
  type; the same retention, kept in Redis (``keys.TICKETS_SHOTS_EXPIRY``): the console serves nothing
  past it, and the worker's ``ShotSweep`` deletes the objects then (no bucket lifecycle rule needed,
  which many S3-compatible servers lack or apply only daily).

Each screenshot's record says which store holds it (``store``), so screenshots fetched before the bucket
was configured stay readable from Redis until they expire. Errors of the bucket become
``ShotStoreError`` with a message that carries no key, secret or address.
"""
from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING

import redis

from ...stores import keys

if TYPE_CHECKING:
    from ...settings import Settings
    from .store import TicketStore

log = logging.getLogger(__name__)

REDIS = "redis"
S3 = "s3"
INSTALL_HINT = "pip install 'wxbot[s3]'"


class ShotStoreError(Exception):
    """The bucket failed (unreachable, refused, missing); ``str()`` is safe to log and to show."""


def minio_missing() -> bool:
    """Whether the optional S3 client (``wxbot[s3]``) is not installed."""
    try:
        import minio  # noqa: F401
    except ImportError:
        return True
    return False


class RedisShots:
    """Screenshots as Redis strings with a TTL (the retention)."""

    name = REDIS

    def __init__(self, store: "TicketStore", retention: int):
        self.store = store
        self.retention = retention

    def put(self, ticket_id: str, n: int, data: bytes, content_type: str, now: float) -> None:
        self.store.put_screenshot(ticket_id, n, data, self.retention)

    def get(self, ticket_id: str, n: int, now: float) -> bytes | None:
        return self.store.get_screenshot(ticket_id, n)

    def present(self, ticket_id: str, ns: list[int], now: float) -> dict[int, bool]:
        pipe = self.store.r.pipeline(transaction=False)
        for n in ns:
            pipe.exists(keys.ticket_shot(ticket_id, n))
        return {n: bool(x) for n, x in zip(ns, pipe.execute())}


class S3Shots:
    """Screenshots as objects of one S3-compatible bucket; their expiry times in Redis."""

    name = S3

    def __init__(self, client: redis.Redis, settings: "Settings", retention: int, timeout: float, max_bytes: int,
                 prefix: str = "tickets/"):
        from urllib.parse import urlsplit

        import certifi
        import urllib3
        from minio import Minio

        self.r = client
        self.bucket = settings.s3_bucket or ""
        self.retention = retention
        self.max_bytes = max_bytes
        self.prefix = prefix
        parts = urlsplit(settings.s3_endpoint or "")
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        # minio's default pool waits minutes and retries five times: a console page must not.
        pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout, read=timeout), maxsize=10,
                                   retries=urllib3.Retry(total=1, backoff_factor=0.1,
                                                         status_forcelist=[500, 502, 503, 504]),
                                   cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
        self.client = Minio(parts.netloc, access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                            secure=parts.scheme == "https", region=settings.s3_region, http_client=pool)

    def object_name(self, ticket_id: str, n: int) -> str:
        return f"{self.prefix}{ticket_id}/{n}"

    def _errors(self):
        import urllib3
        from minio.error import MinioException

        return (MinioException, urllib3.exceptions.HTTPError, OSError)

    def _fail(self, what: str, exc: Exception) -> ShotStoreError:
        code = getattr(exc, "code", None) or exc.__class__.__name__
        log.warning("s3 %s failed bucket=%s error=%s", what, self.bucket, code)
        return ShotStoreError(f"S3 {what} failed ({code}) at {self.where}")

    def put(self, ticket_id: str, n: int, data: bytes, content_type: str, now: float) -> None:
        # The expiry first: an object whose upload then fails is swept all the same, never orphaned.
        self.r.zadd(keys.TICKETS_SHOTS_EXPIRY, {f"{ticket_id}/{n}": now + self.retention})
        try:
            self.client.put_object(self.bucket, self.object_name(ticket_id, n), io.BytesIO(data), len(data),
                                   content_type=content_type)
        except self._errors() as exc:
            raise self._fail("upload", exc) from None

    def get(self, ticket_id: str, n: int, now: float) -> bytes | None:
        """The screenshot, or None when it is past its retention or not in the bucket."""
        expires = self.r.zscore(keys.TICKETS_SHOTS_EXPIRY, f"{ticket_id}/{n}")
        if expires is None or expires <= now:
            return None
        from minio.error import S3Error

        resp = None
        try:
            resp = self.client.get_object(self.bucket, self.object_name(ticket_id, n))
            data = resp.read(self.max_bytes + 1)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise self._fail("download", exc) from None
        except self._errors() as exc:
            raise self._fail("download", exc) from None
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()
        return data if len(data) <= self.max_bytes else None

    def present(self, ticket_id: str, ns: list[int], now: float) -> dict[int, bool]:
        if not ns:
            return {}
        scores = self.r.zmscore(keys.TICKETS_SHOTS_EXPIRY, [f"{ticket_id}/{n}" for n in ns])
        return {n: s is not None and s > now for n, s in zip(ns, scores)}

    def sweep(self, now: float, batch: int = 100) -> int:
        """Delete the objects past their retention (at most ``batch``); returns how many."""
        due = self.r.zrangebyscore(keys.TICKETS_SHOTS_EXPIRY, "-inf", repr(now), start=0, num=batch)
        done = []
        for member in due:
            tid, _, n = member.rpartition("/")
            try:
                self.client.remove_object(self.bucket, self.object_name(tid, int(n)))
            except self._errors() as exc:
                raise self._fail("delete", exc) from None
            done.append(member)
        if done:
            self.r.zrem(keys.TICKETS_SHOTS_EXPIRY, *done)
            log.info("s3 screenshots past their retention deleted count=%d", len(done))
        return len(done)

    def probe(self) -> str:
        """The doctor's check: "" when the bucket is there, else what is wrong (no secret in it)."""
        from minio.error import S3Error

        try:
            if self.client.bucket_exists(self.bucket):
                return ""
            return f"{self.where} 上没有存储桶 {self.bucket}"
        except S3Error as exc:
            return f"{self.where} 拒绝了（{exc.code}）：检查 WXBOT_S3_ACCESS_KEY/WXBOT_S3_SECRET_KEY 和区域（region）"
        except self._errors() as exc:
            return f"连不上 {self.where}（{exc.__class__.__name__}）"


class Screenshots:
    """The console's and the worker's one door: puts go to the configured store; reads go to the store
    the screenshot's record names (``store``; none: Redis, as before the bucket existed)."""

    def __init__(self, redis_shots: RedisShots, s3: S3Shots | None = None):
        self.redis = redis_shots
        self.s3 = s3

    @property
    def target(self) -> RedisShots | S3Shots:
        return self.s3 if self.s3 is not None else self.redis

    def _of(self, shot: dict) -> RedisShots | S3Shots | None:
        if shot.get("store", REDIS) == S3:
            return self.s3
        return self.redis

    def put(self, ticket_id: str, n: int, data: bytes, content_type: str, now: float) -> str:
        """Store screenshot n; returns the store's name for the screenshot's record."""
        self.target.put(ticket_id, n, data, content_type, now)
        return self.target.name

    def get(self, ticket_id: str, n: int, shot: dict, now: float) -> bytes | None:
        store = self._of(shot)
        return None if store is None else store.get(ticket_id, n, now)

    def present(self, ticket_id: str, shots: dict[int, dict], now: float) -> dict[int, bool]:
        """Which screenshots can be served now (one round trip per store)."""
        out: dict[int, bool] = {}
        for store in (self.redis, self.s3):
            if store is None:
                continue
            ns = [n for n, shot in shots.items() if self._of(shot) is store]
            if ns:
                out.update(store.present(ticket_id, ns, now))
        return {n: out.get(n, False) for n in shots}


class ShotSweep:
    """Worker task: every ``interval`` seconds, delete the bucket's screenshots past their retention."""

    name = "tickets_shot_sweep"

    def __init__(self, s3: S3Shots, interval: float, clock=time.time):
        self.s3 = s3
        self.interval = interval
        self.clock = clock
        self.next_at = 0.0

    def tick(self) -> bool:
        now = self.clock()
        if now < self.next_at:
            return False
        try:
            done = self.s3.sweep(now)
        except ShotStoreError:
            self.next_at = now + self.interval
            return False
        # a full batch: more are due, go on at the next tick
        self.next_at = now if done >= 100 else now + self.interval
        return done > 0


def build_screenshots(client: redis.Redis, store: "TicketStore", settings: "Settings", retention: int,
                      timeout: float, max_bytes: int) -> Screenshots:
    """Redis, or the bucket when configured. A configured bucket without the client installed is a
    configuration error naming the fix (``wxbot doctor`` says the same)."""
    s3 = None
    if settings.s3_enabled:
        if minio_missing():
            from ...settings import ConfigError

            raise ConfigError(f"WXBOT_S3_ENDPOINT: screenshots in S3 need the minio client: {INSTALL_HINT}")
        s3 = S3Shots(client, settings, retention, timeout, max_bytes)
    return Screenshots(RedisShots(store, retention), s3)
