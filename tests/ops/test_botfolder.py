"""The admin's path with real subprocesses, exactly as README.md prints it: `wxbot init` in a fresh
folder, `wxbot serve` (embedded Redis, web app and worker), `wxbot chat`, `wxbot doctor`, `wxbot password
rotate` and the support commands, from the bot folder and from another folder with WXBOT_HOME."""
from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import time
from pathlib import Path

import pytest

from helpers.procs import Serve, wxbot
from wxbot.folder import shipped_config
from wxbot.stores.redis import server_pid, stop_embedded_server

pytestmark = pytest.mark.ops

NOT_RUNNING = "机器人没有运行：请用 `wxbot serve` 启动"


@pytest.fixture
def folder(tmp_path):
    bot = tmp_path / "bot"
    out = wxbot(["init", str(bot)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    yield bot
    stop_embedded_server(bot / "var")


def env_values(path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_init_creates_a_ready_folder_and_never_overwrites(tmp_path):
    bot = tmp_path / "bot"
    out = wxbot(["init", str(bot)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (bot / "config").iterdir()) == sorted(p.name for p in shipped_config().iterdir()
                                                                        if p.suffix in (".yaml", ".txt"))
    assert (bot / "config" / "texts.yaml").read_bytes() == (shipped_config() / "texts.yaml").read_bytes()
    env = bot / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = env_values(env)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", values["WECHAT_TOKEN"])
    assert len(values["WXBOT_ADMIN_TOKEN"]) >= 32 and len(values["WXBOT_SECRET_KEY"]) >= 32
    steps = [ln.strip() for ln in out.stdout.splitlines() if re.match(r"\s+\d\. ", ln)]
    assert steps[0].startswith(f"0. cd {bot}") and [s[:2] for s in steps[1:]] == ["1.", "2.", "3."]
    assert "wxbot serve" in steps[2] and "wxbot chat" in steps[3]
    command = steps[2].split()[1]  # runnable as printed: on PATH, or the full path of this wxbot
    assert (command == "wxbot" and shutil.which("wxbot")) or (Path(command).is_absolute() and os.access(command, os.X_OK))
    # Again, and in a folder that has config/ already (the repository): only what is missing is added.
    (bot / "config" / "bot.yaml").write_text("# mine\n", encoding="utf-8")
    before = env.read_text()
    again = wxbot(["init"], cwd=bot)
    assert again.returncode == 0 and "config：保留 " in again.stdout and env.read_text() == before
    assert (bot / "config" / "bot.yaml").read_text() == "# mine\n"
    repo_like = tmp_path / "repo"
    (repo_like / "config").mkdir(parents=True)
    (repo_like / "config" / "bot.yaml").write_text("# the repo's\n", encoding="utf-8")
    assert wxbot(["init"], cwd=repo_like).returncode == 0
    assert (repo_like / "config" / "bot.yaml").read_text() == "# the repo's\n"
    assert (repo_like / "config" / "faq.yaml").exists() and "WECHAT_TOKEN=" in (repo_like / ".env").read_text()
    forced = wxbot(["init", "--force"], cwd=bot)
    assert forced.returncode == 0 and (bot / "config" / "bot.yaml").read_bytes() == (
        shipped_config() / "bot.yaml").read_bytes()
    assert env.read_text() == before  # --force never replaces .env


def test_a_folder_without_config_is_one_line_naming_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = wxbot(["password", "show"], cwd=empty, env={"WECHAT_TOKEN": "abc123"})
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert str(empty) in out.stderr and "WXBOT_HOME" in out.stderr and "wxbot init" in out.stderr


def test_admin_commands_never_start_redis(folder):
    for args in (["password", "show"], ["password", "rotate"], ["tickets", "list"], ["redis-cli", "PING"],
                 ["backup", str(folder / "b.rdb")]):
        out = wxbot(args, cwd=folder)
        assert out.returncode == 1 and out.stderr.strip().startswith("wxbot: " + NOT_RUNNING), (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1
    assert server_pid(folder / "var") is None and not (folder / "var" / "redis.sock").exists()


def test_the_whole_bot_from_its_folder_and_from_another(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = {"WXBOT_HOME": str(folder)}
    serve = Serve(folder).wait_ready()
    try:
        url = ["--url", serve.url]
        # chat reads the token from .env, like serve: no export needed
        chat = wxbot(["chat", *url], cwd=folder, input="/help\n密码\n/nonsense\n")
        assert chat.returncode == 0, chat.stderr
        assert "/click KEY" in chat.stdout and "/quit" in chat.stdout and "准备中" in chat.stdout
        assert "没有 /nonsense 这个指令" in chat.stdout
        bad = wxbot(["chat", *url], cwd=folder, env={"WECHAT_TOKEN": "wrongtoken1"}, input="你好\n")
        assert "HTTP 403" in bad.stdout and "和服务端的不一致" in bad.stdout and "b'" not in bad.stdout
        # an admin command from another folder, through WXBOT_HOME: the same bot, no log lines
        rotated = wxbot(["password", "rotate"], cwd=elsewhere, env=home)
        assert rotated.returncode == 0, rotated.stderr
        password = re.search(r"版本 1：(\S+)", rotated.stdout).group(1)
        assert " INFO " not in rotated.stdout + rotated.stderr
        shown = wxbot(["password", "show"], cwd=folder)
        assert password in shown.stdout and "（v1，" in shown.stdout
        assert password in wxbot(["chat", *url], cwd=elsewhere, env=home, input="密码\n").stdout
        verbose = wxbot(["-v", "password", "show"], cwd=folder)
        assert verbose.returncode == 0 and password in verbose.stdout
        # support: a follower reports, the worker is running, support lists, replies, closes
        assert wxbot(["tickets", "list"], cwd=folder).stdout.startswith("没有工单")
        report = wxbot(["chat", *url], cwd=folder,
                       input="订单问题\n订单号 E2024061512121212 付款后没收到key\n提交\n")
        tid = re.search(r"已为你登记工单：(\S+)", report.stdout).group(1)
        listed = wxbot(["tickets", "list"], cwd=elsewhere, env=home)
        assert listed.stdout.startswith(tid) and "(UTC+8)" in listed.stdout
        assert wxbot(["tickets", "reply", tid, "已补发"], cwd=folder).returncode == 0
        assert wxbot(["tickets", "close", tid, "--note", "已解决"], cwd=elsewhere, env=home).returncode == 0
        late = wxbot(["tickets", "reply", tid, "还有"], cwd=folder)
        assert late.returncode == 1 and "--reopen" in late.stderr
        mine = wxbot(["chat", *url], cwd=folder, input="工单\n").stdout
        assert "已补发" in mine and "已解决" in mine
        # redis-cli without a Redis install, against the running bot
        assert wxbot(["redis-cli", "PING"], cwd=elsewhere, env=home).stdout.strip() == "PONG"
        # the doctor sees the same .env: the token is there
        doctor = wxbot(["doctor"], cwd=folder)
        assert "✓ WECHAT_TOKEN: 正常（32 个字符）" in doctor.stdout, doctor.stdout
        assert "config bot.yaml: 有效（启动时读取：改完要重启机器人" in doctor.stdout
        assert "config texts.yaml: 有效（改完几秒内重新读取，不用重启）" in doctor.stdout
        assert "✓ worker: 1 个 worker 在运行（" in doctor.stdout, doctor.stdout  # serve's worker beats
        assert "✓ Redis version: " in doctor.stdout  # the embedded server is new enough
        assert "bot.yaml is read at start (edits need a restart)" in serve.output()
        # a second serve on the same folder refuses with the running one's address
        second = wxbot(["serve", "--port", "1"], cwd=elsewhere, env=home, timeout=30)
        assert second.returncode == 1 and f"已经在运行，地址 {serve.url}" in second.stderr
    finally:
        status = serve.interrupt()
    out = serve.output()
    assert status == 0, out
    assert "Ctrl-C" in out and "已停止网页应用、worker 和内置 Redis" in out
    # "started" comes once the web app answers: after gunicorn's own line that it listens
    assert out.index("Listening at: ") < out.index("wxbot: 已启动 "), out
    assert server_pid(folder / "var") is None
    assert wxbot(["password", "show"], cwd=folder).returncode == 1
    serve.cleanup()


def test_backup_and_restore_keep_tickets_and_the_password(folder, tmp_path):
    serve = Serve(folder).wait_ready()
    try:
        password = re.search(r"版本 1：(\S+)", wxbot(["password", "rotate"], cwd=folder).stdout).group(1)
        report = wxbot(["chat", "--url", serve.url], cwd=folder, input="没收到key 订单号 E2024061577777777\n")
        tid = re.search(r"工单：(\S+)", report.stdout).group(1)
        backup = tmp_path / "wxbot.rdb"
        out = wxbot(["backup", str(backup)], cwd=folder)
        assert out.returncode == 0, out.stderr
        assert backup.read_bytes()[:5] == b"REDIS"
        running = wxbot(["restore", str(backup)], cwd=folder)
        assert running.returncode == 1 and "机器人正在运行" in running.stderr
        wxbot(["password", "rotate"], cwd=folder)  # after the backup: the restore brings v1 back
    finally:
        assert serve.interrupt() == 0
    serve.cleanup()
    restored = wxbot(["restore", str(backup)], cwd=folder)
    assert restored.returncode == 0, restored.stderr
    assert (folder / "var" / "appendonly.aof").exists()  # what the embedded Redis loads first
    serve = Serve(folder).wait_ready()
    try:
        shown = wxbot(["password", "show"], cwd=folder).stdout
        assert password in shown and "（v1，" in shown
        assert "E2024061577777777" in wxbot(["tickets", "show", tid], cwd=folder).stdout
    finally:
        assert serve.interrupt() == 0
    serve.cleanup()


def test_serve_on_a_port_another_program_listens_on_refuses_in_one_line(folder):
    # another program (here a bare socket; in life often a second bot) answers on the port: serve must
    # not start its Redis and children, nor say it started when someone else answers its health check
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        out = wxbot(["serve", "--port", str(port)], cwd=folder, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "已启动" not in out.stdout and len(out.stderr.strip().splitlines()) == 1
    assert f"端口 {port} 已被另一个程序占用" in out.stderr and f"--port {port + 1}" in out.stderr
    assert server_pid(folder / "var") is None  # nothing was started


def test_serve_on_every_address_behind_a_proxy_says_started(folder):
    # an admin's shell often exports a proxy; serve's readiness check is local and must not use it,
    # and on 0.0.0.0 it asks 127.0.0.1
    proxies = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "all_proxy": "socks5://127.0.0.1:9", "ALL_PROXY": "socks5://127.0.0.1:9"}
    serve = Serve(folder, env=proxies, host="0.0.0.0").wait_ready()
    try:
        deadline = time.monotonic() + 60
        while "wxbot: 已启动 " not in serve.output() and time.monotonic() < deadline and serve.proc.poll() is None:
            time.sleep(0.1)
        assert f"wxbot: 已启动 http://0.0.0.0:{serve.port}/wechat" in serve.output(), serve.output()
    finally:
        assert serve.interrupt() == 0, serve.output()
    assert "Traceback" not in serve.output()
    serve.cleanup()
