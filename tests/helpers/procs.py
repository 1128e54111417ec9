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

WXBOT = str(Path(PYTHON).parent / "wxbot")
# A bot folder with nothing in it: subprocesses get it as WXBOT_HOME unless a test gives its own, so a
# developer's .env in the checkout never leaks into them (tests set WXBOT_CONFIG_DIR/WXBOT_DATA_DIR).
NO_HOME = os.path.join(tempfile.gettempdir(), "wxbot-tests-no-home")
os.makedirs(NO_HOME, exist_ok=True)

__all__ = ["Gunicorn", "Serve", "clean_env", "free_port", "run_cli", "wxbot"]


def clean_env(extra: dict) -> dict:
    """The current environment without wxbot/redis variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WECHAT_", "WXBOT_", "REDIS_", "GUNICORN_", "PROMETHEUS_", "WEB_CONCURRENCY"))}
    env["WXBOT_HOME"] = NO_HOME
    env.update(extra)
    return env


def wxbot(args: list[str], cwd: Path, env: dict | None = None, input: str | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    """``wxbot ARGS`` as an admin types it in ``cwd``: no wxbot variables but ``env`` (no WXBOT_HOME
    unless given), so the bot folder is found as the README says."""
    full = clean_env(env or {})
    if "WXBOT_HOME" not in (env or {}):
        full.pop("WXBOT_HOME")
    return subprocess.run([WXBOT, *args], cwd=str(cwd), env=full, input=input, capture_output=True, text=True,
                          timeout=timeout)


class Serve:
    """``wxbot serve`` in ``cwd`` (its own session, as in a terminal), stopped with Ctrl-C (SIGINT)."""

    def __init__(self, cwd: Path, env: dict | None = None, host: str = "127.0.0.1"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"  # where the tests reach it, whatever it listens on
        self.log_path = Path(tempfile.mkstemp(prefix="wxbot-serve-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")
        full = clean_env(env or {})
        if "WXBOT_HOME" not in (env or {}):
            full.pop("WXBOT_HOME")
        self.proc = subprocess.Popen([WXBOT, "serve", "--host", host, "--port", str(self.port), "--workers", "1"], cwd=str(cwd),
                                     env=full, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> "Serve":
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wxbot serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200 and "worker started" in self.output():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"wxbot serve not ready:\n{self.output()}")

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        self.interrupt()
        self.log_path.unlink(missing_ok=True)


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

    def wait_output(self, check, timeout: float = 10.0) -> str:
        """Poll the log until ``check(output)`` is true (log lines are flushed when they are); the output."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            if check(out):
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"not in gunicorn's log in {timeout} s:\n{out[-2000:]}")
            time.sleep(0.02)

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


def fresh_transport(base_url: str, timeout: float = 5.0):
    """A ``WeChatSimulator`` transport with one new connection per request, so the kernel spreads
    requests over a gunicorn's workers (``wxbot.testing.httpx_transport`` keeps one connection)."""
    import httpx

    def post(path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        resp = httpx.post(base_url + path, content=body, headers=headers, timeout=timeout)
        return resp.status_code, resp.content

    return post
