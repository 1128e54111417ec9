"""The ``wxbot`` command: init, serve, worker, chat, doctor, redis-cli, backup, restore, and the
features' command groups (each feature's ``cli.py``), added here explicitly. Shared plumbing is in
``wxbot.clitools``."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from .clitools import CliContext, exit_on_config_error, not_running_exit, pass_cli, redis_errors_exit, speak_chinese
from .console.cli import cli as console_cli
from .features.ai.cli import cli as ai_cli
from .features.faq.cli import cli as faq_cli
from .features.password.cli import cli as password_cli
from .features.tickets.cli import cli as tickets_cli
from .folder import init_folder, next_steps, wxbot_command
from .logconfig import configure_logging
from .settings import bot_home, load_env
from .texts_cli import cli as texts_cli
from .wechat.cli import cli as menu_cli

speak_chinese()  # click's own words too (usage, help headings, usage errors)

# Each command imports what it runs (the worker, the supervisor, the simulator, Redis tools) when it
# runs, so that ``wxbot --help`` and every other command start without them.


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="同时输出日志行（管理命令默认不输出）。")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """wxbot：产品试金石公众号的微信机器人。

    所有命令都作用于一个机器人文件夹：WXBOT_HOME，没有设置时用当前目录（其中的 config/、var/ 和
    .env；用 `wxbot init` 新建）。"""
    load_env()
    obj = ctx.ensure_object(CliContext)
    obj.verbose = obj.verbose or verbose


@main.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="用默认文件替换 config/ 里的文件（绝不替换 .env）。")
def init(folder: Path | None, force: bool) -> None:
    """新建机器人文件夹：config/（默认配置）、var/ 和带有新密钥的 .env。"""
    target = folder or bot_home()
    res = init_folder(target, force=force)
    if res.copied:
        click.echo(f"wxbot: {res.folder}/config：已写入 {'、'.join(res.copied)}")
    if res.kept:
        click.echo(f"wxbot: {res.folder}/config：保留 {'、'.join(res.kept)}（已存在）")
    if res.env_added:
        click.echo(f"wxbot: {res.folder}/.env：已添加 {'、'.join(res.env_added)}（权限 600）")
    else:
        click.echo(f"wxbot: {res.folder}/.env：保持不变")
    click.echo("接下来：")
    for line in next_steps(res, Path.cwd(), wxbot_command(sys.argv[0])):
        click.echo(f"  {line}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn 的 worker 进程数。")
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int) -> None:
    """在本机运行整个机器人：内置 Redis、网页应用和 worker；按 Ctrl-C 全部停止。"""
    from .supervisor import AlreadyServing, Supervisor

    settings = cli.settings
    configure_logging(settings.log_level)
    sup = Supervisor(settings, host, port, workers, say=click.echo)
    try:
        with exit_on_config_error(), redis_errors_exit():
            status = sup.run()
    except AlreadyServing as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(1) from None
    raise SystemExit(status)


@main.command()
@click.option("--once", is_flag=True, help="每个任务运行一次后退出。")
@pass_cli
def worker(cli: CliContext, once: bool) -> None:
    """运行后台 worker（工单投递、密码同步和更换、提醒）。"""
    from .stores.loaded import announce_loaded
    from .worker import Worker

    cli.own_process = True
    w = Worker(cli.services, cli.features.worker_tasks())
    announce_loaded(cli.services.redis, "worker", cli.services.bot)
    w.install_signal_handlers()
    with redis_errors_exit():
        w.run(max_loops=1 if once else None)


CHAT_HELP = """\
输入一条消息，以粉丝身份发送。指令：
  /click KEY       点击菜单按钮（例如 /click PASSWORD）
  /voice TEXT      一条语音消息，微信识别出的文字为 TEXT
  /image URL       一张图片（例如订单截图）
  /subscribe       关注公众号（带场景值：/subscribe QRSCENE）
  /unsubscribe     取消关注
  /help            显示这个列表
  /quit            退出（也可以按 Ctrl-D）"""

FORBIDDEN_HINT = ("机器人拒绝了签名：Token 或 AES key 和服务端的不一致"
                  "（两边读的是不是这个文件夹的 .env？`wxbot chat` 和 `wxbot serve` 必须使用同一个 WXBOT_HOME）")


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="机器人监听的地址。")
@click.option("--openid", default="o_chat_local_tester", show_default=True, help="以哪个粉丝 openid 的身份发送。")
@pass_cli
def chat(cli: CliContext, url: str, openid: str) -> None:
    """以粉丝身份和正在运行的机器人对话：文字、/click KEY、/voice TEXT、/image URL、/help、/quit。"""
    from .testing import WeChatSimulator, httpx_transport

    s = cli.settings
    with WeChatSimulator(httpx_transport(url), s.wechat_token, s.aes_key_bytes, s.wechat_app_id) as sim:
        click.echo(f"正在以 {openid} 的身份和 {url} 对话（{'安全' if s.safe_mode else '明文'}模式）；"
                   "/help 列出指令，/quit 退出")
        _chat_loop(sim, openid, url)


def _chat_loop(sim, openid: str, url: str) -> None:
    import httpx

    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        line = line.strip()
        if not line:
            continue
        if line in ("/help", "/?", "/h"):
            click.echo(CHAT_HELP)
            continue
        try:
            reply = _chat_send(sim, openid, line)
        except SystemExit:
            return
        except click.UsageError as exc:
            click.echo(f"! {exc.message}")
            continue
        except httpx.TransportError as exc:
            click.echo(f"! 连不上 {url} 的机器人（{' '.join(str(exc).split()) or '没有应答'}）："
                       "`wxbot serve` 在运行吗？")
            continue
        except Exception as exc:  # the chat is a tool: show the error and keep going
            click.echo(f"! 无法读取回复：{' '.join(str(exc).split())[:200]}")
            continue
        if reply.status == 403:
            click.echo(f"! HTTP 403: {FORBIDDEN_HINT}")
        elif reply.status != 200:
            click.echo(f"! HTTP {reply.status}: {reply.body[:200].decode('utf-8', 'replace')}")
        elif reply.content is None:
            click.echo("（没有回复：机器人答复了 `success`）")
        else:
            click.echo(reply.content)


@main.command()
@click.option("--strict", is_flag=True, help="有警告（标 ! 的行）时也以退出码 1 结束。")
def doctor(strict: bool) -> None:
    """检查配置、config 文件、Redis 和微信接口，每项检查一行。"""
    from .doctor import main as run_doctor

    raise SystemExit(run_doctor(strict=strict))


@main.command("redis-cli", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_cli
def redis_cli(cli: CliContext, args: tuple[str, ...]) -> None:
    """对机器人的 Redis（内置 Redis 的 socket 或 REDIS_URL）运行自带的 redis-cli。"""
    from .stores import backup as backup_tools
    from .stores.redis import BotNotRunning

    try:
        conn = backup_tools.cli_args(cli.settings)
    except BotNotRunning as exc:
        raise not_running_exit(exc) from None
    binary = backup_tools.redis_cli_binary()
    os.execv(binary, [binary, *conn, *args])


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def backup(cli: CliContext, file: Path) -> None:
    """把机器人 Redis 的一致快照（工单、密码等全部数据）写到 FILE。"""
    from .stores import backup as backup_tools
    from .stores.redis import BotNotRunning

    try:
        size = backup_tools.backup(cli.settings, file)
    except BotNotRunning as exc:
        raise not_running_exit(exc) from None
    except backup_tools.BackupError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wxbot: 备份已写入 {file.resolve()}（{size} 字节）；恢复：`wxbot restore {file}`")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_cli
def restore(cli: CliContext, file: Path) -> None:
    """把 FILE（`wxbot backup` 生成的）载入这个文件夹的内置 Redis；机器人必须已停止。"""
    from .stores import backup as backup_tools
    from .supervisor import running_serve

    settings = cli.settings
    try:
        aside = backup_tools.restore(settings, file, running_serve(settings.data_dir))
    except backup_tools.BackupError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wxbot: 已把 {file} 恢复到 {settings.data_dir}（原来的数据在 {aside}）；"
               "用 `wxbot serve` 启动机器人")


def _chat_send(sim, openid: str, line: str):
    if not line.startswith("/"):
        return sim.text(openid, line)
    cmd, *rest = shlex.split(line[1:]) or [""]
    arg = " ".join(rest)
    if cmd in ("quit", "exit", "q"):
        raise SystemExit(0)
    if cmd == "click":
        return sim.click(openid, arg)
    if cmd == "voice":
        return sim.voice(openid, arg)
    if cmd == "image":
        return sim.image(openid, arg or "http://127.0.0.1/none.jpg")
    if cmd == "subscribe":
        return sim.subscribe(openid, arg or None)
    if cmd == "unsubscribe":
        return sim.unsubscribe(openid)
    raise click.UsageError(f"没有 /{cmd} 这个指令：/help 列出全部指令")


for group in (password_cli, faq_cli, tickets_cli, menu_cli, ai_cli, console_cli, texts_cli):
    main.add_command(group)


if __name__ == "__main__":  # pragma: no cover
    main()
