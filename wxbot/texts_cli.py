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
    """给粉丝看的文字（texts.yaml 和控制台的修改）：列出、查看、修改、撤销、导出。"""


def _known(layered, name: str) -> None:
    if name not in layered.file_texts():
        click.echo(f"wxbot: 没有“{name}”这段文字（wxbot texts list 列出全部）", err=True)
        raise SystemExit(1)


@cli.command("list")
@pass_cli
def list_cmd(cli_ctx: CliContext) -> None:
    """所有文字：名称、可用的占位符，以及是改过的（edited）还是文件里的（file）。"""
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
    """粉丝现在收到的文字 NAME（改过时，也显示谁改的和 texts.yaml 里的原文）。"""
    layered = cli_ctx.services.texts
    _known(layered, name)
    with redis_errors_exit():
        layered.refresh()
        edit = layered.overrides.all().get(name)
    click.echo(layered.get().get(name))
    if edit is not None:
        zone = cli_ctx.services.bot.zone
        click.echo(f"-- 由 {edit.by} 于 {show_time(edit.at, zone)} 修改（之前还有 {edit.depth} 次修改可以撤销）；"
                   "texts.yaml 里的原文：")
        click.echo(layered.file_texts().get(name))


@cli.command("set")
@click.argument("name")
@click.argument("text")
@pass_cli
def set_cmd(cli_ctx: CliContext, name: str, text: str) -> None:
    """用 TEXT 代替 texts.yaml 里的 NAME（检查和控制台相同：占位符、2048 字节、不能为空）。"""
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
    click.echo(f"已保存 {name}：每个 web 进程在下一次检查时开始使用；撤销：wxbot texts undo {name}")


@cli.command("undo")
@click.argument("name")
@click.option("--all", "all_", is_flag=True, help="去掉 NAME 的全部修改，恢复成 texts.yaml 里的文字。")
@pass_cli
def undo_cmd(cli_ctx: CliContext, name: str, all_: bool) -> None:
    """退回 NAME 的上一次修改（--all：恢复成 texts.yaml 里的文字）。"""
    layered = cli_ctx.services.texts
    _known(layered, name)
    with redis_errors_exit():
        done = layered.overrides.reset(name) if all_ else layered.overrides.undo(name) is not None
        if done:
            cli_ctx.services.audit.record("cli", "text.reset" if all_ else "text.undo", name)
    if not done:
        click.echo(f"wxbot: “{name}”没有改过（用的是 texts.yaml 里的文字）", err=True)
        raise SystemExit(1)
    click.echo(f"{name}：{'已恢复成 texts.yaml 里的文字' if all_ else '已撤销一次修改'}，现在是：")
    layered.refresh()
    click.echo(layered.get().get(name))


@cli.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def export_cmd(cli_ctx: CliContext, file: Path | None) -> None:
    """把合并了修改的 texts.yaml（保留注释和顺序）写到 FILE 或标准输出。"""
    layered = cli_ctx.services.texts
    with redis_errors_exit():
        _, edits = layered.overrides.snapshot()
    text = merged_texts_yaml(layered.path.read_text(encoding="utf-8"), edits)
    if file is None:
        click.echo(text, nl=False)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"已写入 {file}（合并了 {len(edits)} 处修改）", err=True)
