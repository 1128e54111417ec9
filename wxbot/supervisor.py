"""``wxbot serve``: the whole bot on one machine, supervised: the embedded Redis (unless REDIS_URL or
Sentinel is set), the web app (gunicorn with wxbot's config) and the worker.

Ctrl-C (or SIGTERM) stops the web app and the worker (each finishes what it is doing), then the
embedded Redis (which saves its data), and says so. If the web app or the worker dies, the others are
stopped too and serve exits 1: a half-running bot is worse than a stopped one. One serve per bot
folder: the second finds the lock held and names the running one's address. Production runs the
Procfile's web and worker processes instead.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .settings import ConfigError, Settings
from .stores import redis as redisconn

STOP_TIMEOUT = 20.0  # seconds each child gets to finish after SIGTERM before it is killed
CHILD_NAMES = {"web app": "网页应用", "worker": "worker"}  # as serve's lines name them to the admin


class AlreadyServing(Exception):
    def __init__(self, url: str, pid: int | None):
        super().__init__(f"这个机器人已经在运行，地址 {url}" + (f"（wxbot serve 的 pid 为 {pid}）" if pid else "")
                         + "：请先在它的终端里按 Ctrl-C 停止它")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen


class ServeLock:
    """An exclusive lock on ``WXBOT_DATA_DIR/serve.lock`` held while serve runs; it records the address."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "serve.lock"
        self._fh = None

    def acquire(self, url: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")
        except OSError as exc:
            raise ConfigError(f"WXBOT_DATA_DIR: 无法写入 {self.path.parent}（{exc.strerror}）") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                info = json.loads(fh.read() or "{}")
            except ValueError:
                info = {}
            fh.close()
            raise AlreadyServing(info.get("url", "未知"), info.get("pid")) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"url": url, "pid": os.getpid()}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.truncate(0)
            self._fh.close()
            self._fh = None


def running_serve(data_dir: Path) -> dict | None:
    """The address and pid of the serve holding ``data_dir``'s lock, or None."""
    path = Path(data_dir) / "serve.lock"
    try:
        fh = open(path)
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(fh.read() or "{}")
            except ValueError:
                return {}
        return None


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, workers: int, say: Callable[[str], None]):
        self.settings = settings
        self.url = f"http://{host}:{port}"
        self.bind = f"{host}:{port}"
        self.workers = workers
        self.say = say
        self.embedded = not (settings.redis_url or settings.redis_sentinels)
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.signal_name = ""

    def _env(self) -> dict:
        env = dict(os.environ)
        env["WXBOT_HOME"] = str(self.settings.home)
        env["WXBOT_CONFIG_DIR"] = str(self.settings.config_dir)
        env["WXBOT_DATA_DIR"] = str(self.settings.data_dir)
        return env

    def _spawn(self, name: str, args: list[str]) -> None:
        # A session of its own: Ctrl-C reaches serve only, which stops the children in order.
        proc = subprocess.Popen(args, env=self._env(), start_new_session=True)
        self.children.append(Child(name, proc))

    def run(self) -> int:
        lock = ServeLock(self.settings.data_dir)
        lock.acquire(self.url)
        try:
            return self._run()
        finally:
            lock.release()

    def _host_port(self) -> tuple[str, str]:
        """The bind address's host (an IPv6 one without brackets) and port."""
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), port

    def _check_port_free(self) -> None:
        """Refuse a port another program listens on: gunicorn would retry binding it for seconds while
        that program answered the health check, and serve would say "started" for someone else."""
        host, port = self._host_port()
        host = host or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            try:
                sock.bind((host, int(port)))
            except (OverflowError, ValueError):
                raise ConfigError(f"端口 {port} 不是 1–65535 之间的数字") from None
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    other = int(port) + 1 if int(port) < 65535 else int(port) - 1
                    raise ConfigError(f"端口 {port} 已被另一个程序占用（{where}）：先停止它，"
                                      f"或换一个端口，例如 wxbot serve --port {other}") from None
                raise ConfigError(f"无法监听 {where}（{exc.strerror}）") from None

    def _run(self) -> int:
        self._check_port_free()
        if self.embedded:
            redisconn.ensure_embedded_server(self.settings.data_dir, self.settings.internals().redis.embedded_start_timeout)
            where = f"{self.settings.data_dir} 的内置 Redis"
        else:
            where = "REDIS_URL 指向的 Redis" if self.settings.redis_url else "经由 Sentinel 的 Redis"
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        self._spawn("web app", [sys.executable, "-m", "gunicorn", "-c", "python:wxbot.gunicorn_conf", "--bind",
                                self.bind, "--workers", str(self.workers), "wxbot:create_app()"])
        self._spawn("worker", [sys.executable, "-m", "wxbot.cli", "worker"])
        status, started = 0, False
        # "started" is said once the web app answers, not when its process is launched
        while not self.stopping.wait(0.5 if started else 0.1):
            dead = next((c for c in self.children if c.proc.poll() is not None), None)
            if dead is not None:
                self.say(f"wxbot: {CHILD_NAMES[dead.name]}退出了（退出码 {dead.proc.returncode}）；正在停止其他进程")
                status = 1
                break
            if not started and self._web_answers():
                started = True
                self.say(f"wxbot: 已启动 {self.url}/wechat、worker 和 {where}；"
                         f"在另一个终端里用 `wxbot chat` 和它对话；按 Ctrl-C 全部停止")
        if self.signal_name:
            self.say(f"wxbot: {self.signal_name}：正在停止网页应用和 worker…")
        self._stop_children()
        stopped = "网页应用和 worker"
        if self.embedded:
            redisconn.stop_embedded_server(self.settings.data_dir)
            stopped = "网页应用、worker 和内置 Redis（数据已保存）"
        self.say(f"wxbot: 已停止{stopped}")
        return status

    def _web_answers(self) -> bool:
        """The web app answers its health check (on this machine, whatever address it listens on)."""
        import httpx

        host, port = self._host_port()
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        try:
            # never through a proxy from the environment (http_proxy, all_proxy): this is the local app
            return httpx.get(f"http://{host}:{port}/healthz", timeout=1.0, trust_env=False).status_code == 200
        except Exception:  # not answering yet, whatever the reason: the loop asks again or sees it exit
            return False

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        self.signal_name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.stopping.set()

    def _stop_children(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.say(f"wxbot: {CHILD_NAMES[child.name]}在 {STOP_TIMEOUT:g} 秒内没有停止；强制结束它")
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait(5)
