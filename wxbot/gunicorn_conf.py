"""gunicorn settings shipped with wxbot (``gunicorn -c python:wxbot.gunicorn_conf``).

* gthread workers: a slow client holds a thread, not a whole worker (8 slow clients stall sync workers
  for seconds).
* ``timeout`` below WeChat's 5 s; graceful shutdown lets in-flight requests finish.
* The access log prints the path without the query string: the query carries signatures.
* Metrics from every worker are aggregated through PROMETHEUS_MULTIPROC_DIR.
"""
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "5"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
limit_request_line = 8190
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)sB %(M)sms'
errorlog = "-"

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _dir = os.path.join(tempfile.gettempdir(), f"wxbot-metrics-{os.getpid()}")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _dir


def on_starting(server):  # noqa: ARG001
    d = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, exist_ok=True)


def child_exit(server, worker):  # noqa: ARG001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
