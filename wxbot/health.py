"""Liveness, readiness and metrics endpoints."""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app

from . import metrics
from .alerts import aes_mismatch_since
from .stores.redis import REDIS_ERRORS
from .texts import show_time
from .worker import worker_beats

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> Response:
    """200 when Redis answers; 503 within the socket timeout (well under 1 s) when it is down or hung.

    A missing worker never makes a web process unready: a load balancer would take every web process
    out when the one worker dies, and followers would lose the answers the web gives on its own. The
    body says so instead, as it says an AES key mismatch."""
    services = current_app.extensions["wxbot"].services
    try:
        services.redis.ping()
    except REDIS_ERRORS as exc:
        metrics.REDIS_ERRORS.labels("readyz").inc()
        return Response(f"redis unavailable ({exc.__class__.__name__})\n", status=503, mimetype="text/plain")
    services.breaker.reset()
    body = "ready\n"
    try:
        since = aes_mismatch_since(services.redis)
        beats = worker_beats(services.redis)
    except REDIS_ERRORS:
        since, beats = None, None
    zone = services.bot.zone
    if since is not None:  # ready (nothing a restart fixes), but say what an admin must fix
        body += (f"warning: messages do not decrypt since {show_time(since, zone)}: "
                 "the EncodingAESKey differs from the MP console's\n")
    if beats is not None:
        cfg = services.internals.worker
        if not any(time.time() - at <= cfg.heartbeat_stale_beats * cfg.heartbeat_interval for at in beats.values()):
            last = f"last heartbeat {show_time(max(beats.values()), zone)}" if beats else "none has reported"
            body += f"warning: no worker is running ({last}): tickets and scheduled rotations wait\n"
    return Response(body, mimetype="text/plain")


@bp.get("/metrics")
def metrics_view() -> Response:
    """This process's (or every gunicorn worker's) metrics plus what the background workers pushed to
    Redis. With Redis down, the web's own metrics are still served."""
    services = current_app.extensions["wxbot"].services
    if services.breaker.available():
        try:
            body, content_type = metrics.render(services.redis)
            return Response(body, content_type=content_type)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.labels("metrics").inc()
            services.breaker.trip()
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
