"""The ``wxbot`` command: serve, worker, chat, doctor, and the features' command groups (each
feature's ``cli.py``), added here explicitly. Shared plumbing is in ``wxbot.clitools``."""
from __future__ import annotations

import os
import shlex
import sys

import click

from .clitools import CliContext, exit_on_config_error, pass_cli, redis_errors_exit, settings_or_exit
from .console.cli import cli as console_cli
from .features.faq.cli import cli as faq_cli
from .features.password.cli import cli as password_cli
from .features.tickets.cli import cli as tickets_cli
from .testing import WeChatSimulator, httpx_transport
from .wechat.cli import cli as menu_cli
from .worker import Worker


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """wxbot: the WeChat Official Account bot of 产品试金石."""
    ctx.ensure_object(CliContext)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int) -> None:
    """Run the web app with gunicorn for local use (embedded Redis unless REDIS_URL is set)."""
    if not os.environ.get("WECHAT_TOKEN"):
        import secrets

        token = "demo" + secrets.token_hex(8)
        os.environ["WECHAT_TOKEN"] = token
        click.echo(f"wxbot: WECHAT_TOKEN not set; using a generated demo token for local use: {token}")
        click.echo("wxbot: production requires WECHAT_TOKEN (the Token of MP console > 基本配置).")
    settings = settings_or_exit()
    with exit_on_config_error(), redis_errors_exit():
        # Start the embedded Redis (if any) once, before gunicorn forks its workers.
        cli._settings = settings
        cli.services.redis.ping()
    click.echo(f"wxbot: serving http://{host}:{port}/wechat  (chat with it: wxbot chat --url http://{host}:{port})")
    args = [sys.executable, "-m", "gunicorn", "-c", "python:wxbot.gunicorn_conf", "--bind", f"{host}:{port}",
            "--workers", str(workers), "wxbot:create_app()"]
    os.execvp(args[0], args)


@main.command()
@click.option("--once", is_flag=True, help="Run every task once and exit.")
@pass_cli
def worker(cli: CliContext, once: bool) -> None:
    """Run the background worker (ticket delivery, password sync and rotation, alerts)."""
    w = Worker(cli.services, cli.features.worker_tasks())
    w.install_signal_handlers()
    with redis_errors_exit():
        w.run(max_loops=1 if once else None)


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Where the bot listens.")
@click.option("--openid", default="o_chat_local_tester", show_default=True, help="Follower openid to send as.")
@pass_cli
def chat(cli: CliContext, url: str, openid: str) -> None:
    """Talk to a running bot as a follower: text, /click KEY, /voice TEXT, /image URL, /subscribe, /quit."""
    s = cli.settings
    with WeChatSimulator(httpx_transport(url), s.wechat_token, s.aes_key_bytes, s.wechat_app_id) as sim:
        click.echo(f"chatting with {url} as {openid} ({'safe' if s.safe_mode else 'plaintext'} mode); /quit to leave")
        _chat_loop(sim, openid)


def _chat_loop(sim, openid: str) -> None:
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        line = line.strip()
        if not line:
            continue
        try:
            reply = _chat_send(sim, openid, line)
        except SystemExit:
            return
        except Exception as exc:  # the chat is a tool: show the error and keep going
            click.echo(f"! {exc.__class__.__name__}: {exc}")
            continue
        if reply.status != 200:
            click.echo(f"! HTTP {reply.status}: {reply.body[:200]!r}")
        elif reply.content is None:
            click.echo("(no reply: success)")
        else:
            click.echo(reply.content)


@main.command()
@click.option("--strict", is_flag=True, help="Also exit 1 on warnings (lines marked !).")
def doctor(strict: bool) -> None:
    """Check the configuration, config files, Redis and WeChat access; one line per check."""
    from .doctor import main as run_doctor

    raise SystemExit(run_doctor(strict=strict))


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
    raise click.UsageError(f"unknown command /{cmd}: try /click KEY, /voice TEXT, /image URL, /subscribe, /quit")


for group in (password_cli, faq_cli, tickets_cli, menu_cli, console_cli):
    main.add_command(group)


if __name__ == "__main__":  # pragma: no cover
    main()
