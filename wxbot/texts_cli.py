"""``wxbot texts list|show|set|undo|export``: the follower texts from a terminal, as the console's
回复文字 page edits them: over ``config/texts.yaml``, stored in Redis (``stores.texts.TextOverrides``),
with the console's checks (``stores.texts.edit_problem``), and audited as the console's edits are
(``text.edit``, ``text.undo``, ``text.reset``, by ``cli``). Every web process uses an edit at its
next check of the texts' version (within ``webhook.config_reload_interval``)."""
from __future__ import annotations

from pathlib import Path

import click

from .clitools import CliContext, pass_cli, redis_errors_exit
from .features.faq import mask
from .stores.texts import edit_problem
from .texts import merged_texts_yaml, show_time


@click.group("texts")
def cli() -> None:
    """Follower texts (texts.yaml and the console's edits): list, show, set, undo, export."""


def _known(layered, name: str) -> None:
    if name not in layered.file_texts():
        click.echo(f"wxbot: 没有“{name}”这段文字（wxbot texts list 列出全部）", err=True)
        raise SystemExit(1)


@cli.command("list")
@pass_cli
def list_cmd(cli_ctx: CliContext) -> None:
    """Every text: its name, the placeholders it may use, and whether it is edited over texts.yaml."""
    layered = cli_ctx.services.texts
    with redis_errors_exit():
        edited = layered.overrides.all()
    for name in layered.file_texts().keys():
        shown = " ".join("{" + p + "}" for p in sorted(layered.allowed(name))) or "-"
        click.echo(f"{name}\t{shown}\t{'edited' if name in edited else 'file'}")


@cli.command("show")
@click.argument("name")
@pass_cli
def show_cmd(cli_ctx: CliContext, name: str) -> None:
    """The text NAME as followers get it now (with who edited it, and the file's text when edited)."""
    layered = cli_ctx.services.texts
    _known(layered, name)
    with redis_errors_exit():
        layered.refresh()
        edit = layered.overrides.all().get(name)
    click.echo(layered.get().get(name))
    if edit is not None:
        zone = cli_ctx.services.bot.zone
        click.echo(f"-- edited by {edit.by} at {show_time(edit.at, zone)} ({edit.depth} earlier edit(s) to undo); "
                   "texts.yaml has:")
        click.echo(layered.file_texts().get(name))


@cli.command("set")
@click.argument("name")
@click.argument("text")
@pass_cli
def set_cmd(cli_ctx: CliContext, name: str, text: str) -> None:
    """Use TEXT for NAME over texts.yaml (the console's checks: placeholders, 2048 bytes, not empty)."""
    layered = cli_ctx.services.texts
    _known(layered, name)
    text = text.replace("\r\n", "\n").rstrip("\n")
    problem = edit_problem(name, text, layered.allowed(name))
    if problem:
        click.echo(f"wxbot: 没有保存：{problem}原来的文字没有变。", err=True)
        raise SystemExit(1)
    with redis_errors_exit():
        layered.overrides.set(name, text, "cli")
        cli_ctx.services.audit.record("cli", "text.edit", name, detail=mask(text, 80))
    click.echo(f"saved {name}: every web process uses it at its next check; undo: wxbot texts undo {name}")


@cli.command("undo")
@click.argument("name")
@click.option("--all", "all_", is_flag=True, help="Drop every edit of NAME: texts.yaml's text again.")
@pass_cli
def undo_cmd(cli_ctx: CliContext, name: str, all_: bool) -> None:
    """Step back one edit of NAME (with --all: back to texts.yaml)."""
    layered = cli_ctx.services.texts
    _known(layered, name)
    with redis_errors_exit():
        done = layered.overrides.reset(name) if all_ else layered.overrides.undo(name) is not None
        if done:
            cli_ctx.services.audit.record("cli", "text.reset" if all_ else "text.undo", name)
    if not done:
        click.echo(f"wxbot: “{name}”没有改过（用的是 texts.yaml 里的文字）", err=True)
        raise SystemExit(1)
    click.echo(f"{'reset' if all_ else 'undone one edit of'} {name}; now:")
    layered.refresh()
    click.echo(layered.get().get(name))


@cli.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def export_cmd(cli_ctx: CliContext, file: Path | None) -> None:
    """Write texts.yaml with the edits merged in (comments and order kept) to FILE or stdout."""
    layered = cli_ctx.services.texts
    with redis_errors_exit():
        _, edits = layered.overrides.snapshot()
    text = merged_texts_yaml(layered.path.read_text(encoding="utf-8"), edits)
    if file is None:
        click.echo(text, nl=False)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"wrote {file} ({len(edits)} edit(s) merged in)", err=True)
