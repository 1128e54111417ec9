"""``wxbot faq lint|match|eval|unmatched|teach|unteach|teachings|edits|undo|export``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import click
import yaml

from ...clitools import CliContext, exit_on_config_error, redis_errors_exit
from ...defaults import Faq as FaqInternals
from ...policy import FaqPolicy, load_bot_config

# The matcher (and its libraries) is imported by the commands that match, when they run.

T = TypeVar("T")


@click.group("faq")
def cli() -> None:
    """常见问题（FAQ）知识库：检查、解释匹配、评测、没答上的问题、教新问法。"""


def _faq_config(obj: CliContext, config_dir: Path | None) -> tuple[Path, FaqPolicy]:
    """The configured faq.yaml and knobs; with ``--config-dir`` no other setting (secret) is needed."""
    from .knowledge import faq_path

    config_dir = config_dir or obj.settings.config_dir
    with exit_on_config_error():
        cfg = load_bot_config(config_dir).faq
    return faq_path(config_dir, cfg), cfg


def _options(cfg: FaqPolicy):
    from .knowledge import match_options

    return match_options(cfg, FaqInternals())


_config_dir_option = click.option(
    "--config-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="从这个目录读取 bot.yaml 和 faq.yaml，而不是 WXBOT_CONFIG_DIR（不需要其他任何设置）。")


def _read_yaml(path: Path):
    try:
        with open(path, "rb") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        click.echo(f"{path}：文件不存在", err=True)
        raise SystemExit(1) from None
    except yaml.YAMLError as exc:
        click.echo(f"{path}：不是有效的 YAML：{' '.join(str(exc).split())}", err=True)
        raise SystemExit(1) from None


@cli.command("lint")
@click.option("--file", "file_", type=click.Path(dir_okay=False, path_type=Path),
              help="检查这个文件，而不是配置里的那个。")
@_config_dir_option
@click.pass_obj
def lint_cmd(obj, file_: Path | None, config_dir: Path | None) -> None:
    """检查 faq.yaml：id 不重复、答案不超过 2048 字节、正则安全、话题都存在。"""
    from .lint import lint
    from .matcher import compile_faq

    path, cfg = _faq_config(obj, config_dir)
    path = file_ or path
    raw = _read_yaml(path)
    problems = lint(raw, _options(cfg))
    if problems:
        for line in problems:
            click.echo(f"{path}: {line}", err=True)
        raise SystemExit(1)
    faq = compile_faq(raw, _options(cfg))
    click.echo(f"{path}：没有问题，{len(faq.entries)} 个条目，版本 {faq.version}")


@cli.command("match")
@click.argument("text")
@click.option("--top", default=3, show_default=True, help="显示几个排在后面的条目。")
@_config_dir_option
@click.pass_obj
def match_cmd(obj, text: str, top: int, config_dir: Path | None) -> None:
    """显示 TEXT 是怎样匹配的：结果、选中的条目、分数和排在后面的条目（机器人在运行时，连同教学和控制台
    修改一起匹配；机器人没有运行或加了 --config-dir 时，只按 faq.yaml 匹配）。"""
    from .lint import lint
    from .matcher import compile_faq

    path, cfg = _faq_config(obj, config_dir)
    raw = _read_yaml(path)
    problems = lint(raw, _options(cfg))
    if problems:
        click.echo(f"{path}: {problems[0]}（详见 `wxbot faq lint`）", err=True)
        raise SystemExit(1)
    from .questions import explain

    if config_dir is None and obj.services_if_running() is not None:
        # what followers get: the FAQ as the running bot builds it, with its teachings and console edits
        kn = obj.features.faq.knowledge
        faq = kn.get()
        source = (f"{kn.path}，加上正在运行的机器人的 {sum(map(len, faq.taught.values()))} 条教学和 "
                  f"{len(kn.current_edits())} 处控制台修改")
    else:
        faq, source = compile_faq(raw, _options(cfg)), f"只按 {path}"
    for line in explain(faq, text, cfg.threshold, top):
        click.echo(line)
    click.echo(f"（匹配依据：{source}）")


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="列出多少条。")
@click.option("--all", "show_all", is_flag=True, help="也列出现在的 FAQ 已经能回答的问题。")
@click.option("--clear", is_flag=True, help="显示后清空这个列表。")
@click.pass_obj
def unmatched_cmd(obj, limit: int, show_all: bool, clear: bool) -> None:
    """列出 FAQ 没答上的问题（已遮盖敏感信息），出现最多的在前，并显示最可能的条目。"""
    from .questions import open_questions

    base = obj.features.faq.knowledge
    with redis_errors_exit():
        rows, hidden = open_questions(base, limit, show_all)
        shown = len(rows)
        for q in rows:
            guess = f"{q.guess} {q.score:.2f}" if q.guess else "-"
            now = f"  现在：{q.now}" if q.now else ""
            click.echo(f"{q.asked.count:>6}  {q.asked.text}  （最可能：{guess}）{now}")
        if not shown:
            click.echo("没有记录到没答上的问题")
        if hidden:
            click.echo(f"（另有 {hidden} 条没有列出：现在的 FAQ 已经能回答；加 --all 列出）")
        if clear:
            base.unmatched.clear()
            click.echo("已清空")


@cli.command("teach")
@click.argument("text")
@click.argument("entry")
@click.pass_obj
def teach_cmd(obj, text: str, entry: str) -> None:
    """把 TEXT 教给条目 ENTRY（id 或 topic），作为它的一种问法；每台服务器在下一次检查时开始这样回答。"""
    faq = obj.features.faq
    with redis_errors_exit():
        status, value = faq.teacher.teach(entry, text, "cli")
    if status == "unknown":
        ids = ", ".join(e.id for e in faq.knowledge.get().entries)
        click.echo(f"没有条目 {entry!r}：请用条目的 id 或 topic；所有 id：{ids}", err=True)
        raise SystemExit(1)
    if status == "empty":
        click.echo("没有可教的内容：规范化后文字为空", err=True)
        raise SystemExit(1)
    if status == "taken":
        click.echo(f"没有教：{text!r} 已经是 faq.yaml 里条目 {value} 的全匹配规则", err=True)
        raise SystemExit(1)
    faq.knowledge.refresh()  # compile with the teaching, as every host does at its next check
    faq.knowledge.settle()
    res = faq.knowledge.get().match(text)
    got = res.entry.id if res.kind == "answer" and res.entry else f"没有答案（{res.kind}）"
    click.echo(f"已教 #{value.id}：{value.text!r} -> {value.entry}；现在这句话由 {got} 回答；"
               f"撤销：wxbot faq unteach {value.id}")


def _undone(undo: Callable[[int, str], T | None], number: int, missing: str) -> T:
    """``undo(number, "cli")`` (a teaching or a console edit); exit 1 saying ``missing`` when there is none."""
    with redis_errors_exit():
        removed = undo(number, "cli")
    if removed is None:
        click.echo(missing, err=True)
        raise SystemExit(1)
    return removed


def _echo_rows(rows_of: Callable[[], list[T]], empty: str, line: Callable[[T], str]) -> None:
    """One line per row of ``rows_of()`` (from Redis), or ``empty`` when there are none."""
    with redis_errors_exit():
        rows = rows_of()
    if not rows:
        click.echo(empty)
    for row in rows:
        click.echo(line(row))


@cli.command("unteach")
@click.argument("teaching_id", type=int)
@click.pass_obj
def unteach_cmd(obj, teaching_id: int) -> None:
    """撤销编号为 TEACHING_ID 的教学（见 `wxbot faq teachings`）。"""
    removed = _undone(obj.features.faq.teacher.unteach, teaching_id, f"没有教学 #{teaching_id}")
    click.echo(f"已撤销 #{removed.id}：{removed.text!r} -> {removed.entry}")


@cli.command("teachings")
@click.pass_obj
def teachings_cmd(obj) -> None:
    """列出 Redis 里教过的说法（编号、条目、文字、操作人）。"""
    _echo_rows(obj.features.faq.knowledge.teachings.all, "还没有教学",
               lambda t: f"#{t.id:<5} {t.entry:<20} {t.text}  ({t.by})")


@cli.command("edits")
@click.pass_obj
def edits_cmd(obj) -> None:
    """列出在网页控制台做过的 FAQ 修改（编号、类型、条目、操作人）；用 `wxbot faq undo` 撤销。"""
    _echo_rows(obj.features.faq.knowledge.edits.all, "还没有控制台修改",
               lambda e: f"#{e.id:<5} {e.kind:<10} {e.entry:<20} {' '.join(e.value.split())[:60]}  ({e.by})")


@cli.command("undo")
@click.argument("number", type=int)
@click.pass_obj
def undo_cmd(obj, number: int) -> None:
    """撤销编号为 NUMBER 的控制台修改或教学（见 `wxbot faq edits`、`wxbot faq teachings`）。"""
    removed = _undone(obj.features.faq.editor.undo, number, f"没有编号为 #{number} 的控制台修改或教学")
    click.echo(f"已撤销 #{number}：条目 {removed.entry} 的 {getattr(removed, 'kind', 'teach')}")


@cli.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export_cmd(obj, file: Path | None) -> None:
    """写出合并了教学和控制台修改的 faq.yaml（保留注释和顺序）。"""
    from .export import merged_yaml

    kn = obj.features.faq.knowledge
    with redis_errors_exit():
        _, taught, edits = kn.edits.layers()
    text = merged_yaml(kn.path.read_text(encoding="utf-8"), taught, edits)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"{file}：合并了 {sum(map(len, taught.values()))} 条教过的说法")


@cli.command("eval")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--misses", is_flag=True, help="同时列出每一条没有答对的消息。")
@click.pass_obj
def eval_cmd(obj, file: Path, misses: bool) -> None:
    """按路由给标注好的评测集打分：按条目和问法风格统计 答对/答错/兜底，以及容易混淆的条目对。"""
    from .evaluation import evaluate_set, outcome_label, style_label

    faq = obj.features.faq.knowledge.get()  # faq.yaml plus the teachings, as followers meet it
    rep = evaluate_set(faq, _read_yaml(file) or {}, obj.routes_before_faq())
    click.echo(f"{file}：FAQ 版本 {faq.version}，{len(faq.entries)} 个条目")
    click.echo(f"FAQ 范围内：{rep.overall.line()}")
    click.echo("按问法风格：")
    for style, t in sorted(rep.by_style.items()):
        click.echo(f"  {style_label(style)}：{t.line()}")
    click.echo("按条目：")
    for entry, t in rep.by_entry.items():
        click.echo(f"  {entry:<20} {t.line()}")
    for name, t in (("密码", rep.password), ("订单问题报告", rep.order_reports),
                    ("FAQ 范围外（答对 = 没有给出事实）", rep.off_topic)):
        if t.total:
            click.echo(f"{name}：{t.line()}")
    if rep.confusion:
        click.echo("混淆（应答条目 -> 实际回答）：")
        for (want, got), n in sorted(rep.confusion.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>3}  {want} -> {outcome_label(got)}")
    if misses:
        for style, text, want, got in rep.misses:
            click.echo(f"  未答对 [{style_label(style)}] {text!r}：应为 {outcome_label(want)}，实际 {outcome_label(got)}")
