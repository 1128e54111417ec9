"""gunicorn settings shipped with wxbot (``gunicorn -c python:wxbot.gunicorn_conf "wxbot:create_app()"``).

* ``preload_app``: the app is built once in the master before forking. A bad configuration therefore
  stops gunicorn at once with the same one-line message as every other entry point (exit status 2),
  instead of workers failing to boot and being respawned in a loop; the embedded Redis (if any) is
  started once, before the workers exist.
* gthread workers with 32 threads: a slow client holds one thread, not a whole worker (measured for
  the issue: 8 slow clients stall sync workers for 3.5 s). gunicorn gives every new connection a thread
  that waits up to 5 s for its first bytes, and a client that dribbles its body keeps its thread, so
  threads are cheap insurance; nginx in front (it buffers whole requests) is the real protection.
* ``timeout`` below WeChat's 5 s; SIGTERM lets in-flight requests finish (``graceful_timeout``).
* The access log prints the path without the query string (``%(U)s``): the query carries signatures.
* Metrics from every worker are aggregated through PROMETHEUS_MULTIPROC_DIR, which this file sets
  (a fresh directory per master) unless the environment already does.

Every value can be overridden from the environment (names below; the bot folder's .env counts) or on
the gunicorn command line.
Importing this module changes ``os.environ`` and wipes the metrics directory: only gunicorn loads it.
"""
import os
import shutil
import sys
import tempfile
import time

from wxbot.settings import load_env

load_env()  # the bot folder's .env (WXBOT_HOME, else the working directory); the real environment wins

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# gthread: a worker whose main loop is silent this long is restarted; sync workers: a request longer
# than this is killed (WeChat stopped waiting at 5 s anyway).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "4"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
preload_app = True
limit_request_line = 8190
limit_request_fields = 100
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)sB %(M)sms'
errorlog = "-"
# gunicorn 27 opens a control socket under ~/.gunicorn by default; wxbot does not use it, and two
# instances on one host (or a read-only home on a PaaS) would trip over it.
control_socket_disable = True

_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    tempfile.gettempdir(), f"wxbot-metrics-{os.getpid()}"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
os.environ["WXBOT_GUNICORN"] = "1"  # wxbot.metrics uses the directory only in gunicorn's processes
# Logs are UTC and say so: gunicorn's own lines ("[... +0000]") and the access log are in the
# process's local zone, wxbot's lines (wxbot.logconfig) in UTC; nothing wxbot shows people uses the
# local zone (those times are in bot.yaml's ``timezone``).
os.environ["TZ"] = "UTC"
time.tzset()
# Start from an empty directory (stale files of an earlier run would be added to the totals). It must
# exist before the app is preloaded: prometheus_client creates its files when the metrics are defined.
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):  # noqa: ARG001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Each worker watches the FAQ's file and teachings on a thread of its own, so a teaching or a
    console edit reaches every worker within about a second, whether or not it gets messages."""
    bot = getattr(worker.wsgi, "extensions", {}).get("wxbot")
    if bot is not None:
        bot.features.faq.knowledge.watch()


def _check_configuration() -> None:
    """Before gunicorn preloads the app: a bad setting or config file is one line and exit status 2,
    like every other entry point, instead of a traceback from inside gunicorn; logging is set up for
    the app and its workers."""
    from wxbot.logconfig import configure_logging
    from wxbot.policy import load_bot_config
    from wxbot.settings import ConfigError, Settings
    from wxbot.texts import texts_file

    try:
        settings = Settings.from_env()
        settings.internals()
        load_bot_config(settings.config_dir)
        texts_file(settings.config_dir)
    except ConfigError as exc:
        print(f"wxbot: 配置错误：{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level)


# Only when gunicorn itself loads this file (tools and tests import it for its values).
if os.path.basename(sys.argv[0]) == "gunicorn" or sys.argv[0].endswith(os.path.join("gunicorn", "__main__.py")):
    _check_configuration()
