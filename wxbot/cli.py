"""The ``wxbot`` command: init, serve, worker, chat, doctor, redis-cli, backup, restore, and the
features' command groups (each feature's ``cli.py``), added here explicitly. Shared plumbing is in
``wxbot.clitools``."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from .clitools import CliContext, exit_on_config_error, not_running_exit, pass_cli, redis_errors_exit
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

# Each command imports what it runs (the worker, the supervisor, the simulator, Redis tools) when it
# runs, so that ``wxbot --help`` and every other command start without them.


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Also print log lines (admin commands print none by default).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """wxbot: the WeChat Official Account bot of 产品试金石.

    Every command works on one bot folder: WXBOT_HOME, else the current directory (its config/, var/
    and .env; `wxbot init` creates one)."""
    load_env()
    obj = ctx.ensure_object(CliContext)
    obj.verbose = obj.verbose or verbose


@main.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the config/ files with the shipped ones (.env is never replaced).")
def init(folder: Path | None, force: bool) -> None:
    """Create a bot folder: config/ (the shipped defaults), var/ and .env with new secrets."""
    target = folder or bot_home()
    res = init_folder(target, force=force)
    if res.copied:
        click.echo(f"wxbot: {res.folder}/config: wrote {', '.join(res.copied)}")
    if res.kept:
        click.echo(f"wxbot: {res.folder}/config: kept {', '.join(res.kept)} (already there)")
    if res.env_added:
        click.echo(f"wxbot: {res.folder}/.env: added {', '.join(res.env_added)} (mode 600)")
    else:
        click.echo(f"wxbot: {res.folder}/.env: kept as it is")
    click.echo("Next:")
    for line in next_steps(res, Path.cwd(), wxbot_command(sys.argv[0])):
        click.echo(f"  {line}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int) -> None:
    """Run the whole bot locally: embedded Redis, the web app and the worker; Ctrl-C stops all three."""
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
@click.option("--once", is_flag=True, help="Run every task once and exit.")
@pass_cli
def worker(cli: CliContext, once: bool) -> None:
    """Run the background worker (ticket delivery, password sync and rotation, alerts)."""
    from .stores.loaded import announce_loaded
    from .worker import Worker

    cli.own_process = True
    w = Worker(cli.services, cli.features.worker_tasks())
    announce_loaded(cli.services.redis, "worker", cli.services.bot)
    w.install_signal_handlers()
    with redis_errors_exit():
        w.run(max_loops=1 if once else None)


CHAT_HELP = """\
Type a message to send it as the follower. Commands:
  /click KEY       tap a menu button (e.g. /click PASSWORD)
  /voice TEXT      a voice message WeChat transcribed as TEXT
  /image URL       a picture (e.g. an order screenshot)
  /subscribe       follow the account (/subscribe QRSCENE for a scene)
  /unsubscribe     unfollow it
  /help            this list
  /quit            leave (Ctrl-D too)"""

FORBIDDEN_HINT = ("the bot refused the signature: the token or AES key differs from the server's "
                  "(do both read .env from this folder? `wxbot chat` and `wxbot serve` must share WXBOT_HOME)")


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Where the bot listens.")
@click.option("--openid", default="o_chat_local_tester", show_default=True, help="Follower openid to send as.")
@pass_cli
def chat(cli: CliContext, url: str, openid: str) -> None:
    """Talk to a running bot as a follower: text, /click KEY, /voice TEXT, /image URL, /help, /quit."""
    from .testing import WeChatSimulator, httpx_transport

    s = cli.settings
    with WeChatSimulator(httpx_transport(url), s.wechat_token, s.aes_key_bytes, s.wechat_app_id) as sim:
        click.echo(f"chatting with {url} as {openid} ({'safe' if s.safe_mode else 'plaintext'} mode); "
                   "/help lists the commands, /quit leaves")
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
            click.echo(f"! could not reach the bot at {url} ({' '.join(str(exc).split()) or 'no answer'}): "
                       "is `wxbot serve` running?")
            continue
        except Exception as exc:  # the chat is a tool: show the error and keep going
            click.echo(f"! the reply could not be read: {' '.join(str(exc).split())[:200]}")
            continue
        if reply.status == 403:
            click.echo(f"! HTTP 403: {FORBIDDEN_HINT}")
        elif reply.status != 200:
            click.echo(f"! HTTP {reply.status}: {reply.body[:200].decode('utf-8', 'replace')}")
        elif reply.content is None:
            click.echo("(no reply: the bot answered `success`)")
        else:
            click.echo(reply.content)


@main.command()
@click.option("--strict", is_flag=True, help="Also exit 1 on warnings (lines marked !).")
def doctor(strict: bool) -> None:
    """Check the configuration, config files, Redis and WeChat access; one line per check."""
    from .doctor import main as run_doctor

    raise SystemExit(run_doctor(strict=strict))


@main.command("redis-cli", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_cli
def redis_cli(cli: CliContext, args: tuple[str, ...]) -> None:
    """Run the bundled redis-cli against the bot's Redis (embedded socket or REDIS_URL)."""
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
    """Write a consistent snapshot of the bot's Redis (tickets, password, everything) to FILE."""
    from .stores import backup as backup_tools
    from .stores.redis import BotNotRunning

    try:
        size = backup_tools.backup(cli.settings, file)
    except BotNotRunning as exc:
        raise not_running_exit(exc) from None
    except backup_tools.BackupError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wxbot: backup written to {file.resolve()} ({size} bytes); restore it with `wxbot restore {file}`")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_cli
def restore(cli: CliContext, file: Path) -> None:
    """Load FILE (made by `wxbot backup`) into this folder's embedded Redis; the bot must be stopped."""
    from .stores import backup as backup_tools
    from .supervisor import running_serve

    settings = cli.settings
    try:
        aside = backup_tools.restore(settings, file, running_serve(settings.data_dir))
    except backup_tools.BackupError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wxbot: restored {file} into {settings.data_dir} (the previous data is in {aside}); "
               "start the bot with `wxbot serve`")


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
    raise click.UsageError(f"unknown command /{cmd}: /help lists the commands")


for group in (password_cli, faq_cli, tickets_cli, menu_cli, ai_cli, console_cli, texts_cli):
    main.add_command(group)


if __name__ == "__main__":  # pragma: no cover
    main()
