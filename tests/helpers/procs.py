"""Real subprocesses for the operations tests: gunicorn with the shipped config, the wxbot CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers.redis import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

__all__ = ["Gunicorn", "clean_env", "free_port", "run_cli"]


def clean_env(extra: dict) -> dict:
    """The current environment without wxbot/redis variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WECHAT_", "WXBOT_", "REDIS_", "GUNICORN_", "PROMETHEUS_", "WEB_CONCURRENCY"))}
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    wxbot = str(Path(PYTHON).parent / "wxbot")
    return subprocess.run([wxbot, *args], env=clean_env(env), capture_output=True,
                          text=True, timeout=timeout, cwd=str(ROOT))


class Gunicorn:
    """``python -m gunicorn -c python:wxbot.gunicorn_conf "wxbot:create_app()"`` on 127.0.0.1."""

    def __init__(self, env: dict, *args: str, workers: int = 2, threads: int | None = None):
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="wxbot-gunicorn-", suffix=".log", delete=False)
        self.metrics_dir = tempfile.mkdtemp(prefix="wxbot-metrics-test-")
        full_env = clean_env(env)
        full_env.update(PROMETHEUS_MULTIPROC_DIR=self.metrics_dir, WEB_CONCURRENCY=str(workers))
        if threads is not None:
            full_env["GUNICORN_THREADS"] = str(threads)
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "python:wxbot.gunicorn_conf", "--bind", f"127.0.0.1:{self.port}",
             *args, "wxbot:create_app()"],
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True,
        )

    def wait_ready(self, timeout: float = 20.0) -> "Gunicorn":
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.proc.returncode}:\n{self.output()}")
            try:
                if (httpx.get(self.url + "/healthz", timeout=1).status_code == 200
                        and len(self.worker_pids()) >= self.workers):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn not ready:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        Path(self.log.name).unlink(missing_ok=True)
