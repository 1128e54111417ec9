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
    """FAQ knowledge base: lint, explain a match, evaluate, unmatched questions, teach phrasings."""


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
    help="Read bot.yaml and faq.yaml from here instead of WXBOT_CONFIG_DIR (no other settings needed).")


def _read_yaml(path: Path):
    try:
        with open(path, "rb") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        click.echo(f"{path}: file not found", err=True)
        raise SystemExit(1) from None
    except yaml.YAMLError as exc:
        click.echo(f"{path}: not valid YAML: {' '.join(str(exc).split())}", err=True)
        raise SystemExit(1) from None


@cli.command("lint")
@click.option("--file", "file_", type=click.Path(dir_okay=False, path_type=Path),
              help="Check this file instead of the configured one.")
@_config_dir_option
@click.pass_obj
def lint_cmd(obj, file_: Path | None, config_dir: Path | None) -> None:
    """Validate faq.yaml: unique ids, answers within 2048 bytes, safe patterns, known topics."""
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
    click.echo(f"{path}: ok, {len(faq.entries)} entries, version {faq.version}")


@cli.command("match")
@click.argument("text")
@click.option("--top", default=3, show_default=True, help="Runners-up to show.")
@_config_dir_option
@click.pass_obj
def match_cmd(obj, text: str, top: int, config_dir: Path | None) -> None:
    """Show how TEXT is matched: the decision, the chosen entry, its score and the runners-up (with the
    running bot's teachings and console edits; faq.yaml alone when it is not running or with --config-dir)."""
    from .lint import lint
    from .matcher import compile_faq

    path, cfg = _faq_config(obj, config_dir)
    raw = _read_yaml(path)
    problems = lint(raw, _options(cfg))
    if problems:
        click.echo(f"{path}: {problems[0]} (run `wxbot faq lint`)", err=True)
        raise SystemExit(1)
    from .questions import explain

    if config_dir is None and obj.services_if_running() is not None:
        # what followers get: the FAQ as the running bot builds it, with its teachings and console edits
        kn = obj.features.faq.knowledge
        faq = kn.get()
        source = (f"{kn.path} with the running bot's {sum(map(len, faq.taught.values()))} teaching(s) and "
                  f"{len(kn.current_edits())} console edit(s)")
    else:
        faq, source = compile_faq(raw, _options(cfg)), f"{path} alone"
    for line in explain(faq, text, cfg.threshold, top):
        click.echo(line)
    click.echo(f"(matched against {source})")


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="How many to list.")
@click.option("--all", "show_all", is_flag=True, help="Also list those the current FAQ now answers.")
@click.option("--clear", is_flag=True, help="Forget the list after showing it.")
@click.pass_obj
def unmatched_cmd(obj, limit: int, show_all: bool, clear: bool) -> None:
    """List questions the FAQ did not answer, most frequent first (masked), with the best guess."""
    from .questions import open_questions

    base = obj.features.faq.knowledge
    with redis_errors_exit():
        rows, hidden = open_questions(base, limit, show_all)
        shown = len(rows)
        for q in rows:
            guess = f"{q.guess} {q.score:.2f}" if q.guess else "-"
            now = f"  now: {q.now}" if q.now else ""
            click.echo(f"{q.asked.count:>6}  {q.asked.text}  (best guess: {guess}){now}")
        if not shown:
            click.echo("no unmatched questions recorded")
        if hidden:
            click.echo(f"({hidden} left out: the current FAQ answers them; --all lists them)")
        if clear:
            base.unmatched.clear()
            click.echo("cleared")


@cli.command("teach")
@click.argument("text")
@click.argument("entry")
@click.pass_obj
def teach_cmd(obj, text: str, entry: str) -> None:
    """Add TEXT as a phrasing of ENTRY (an id or topic); every host answers it at its next check."""
    faq = obj.features.faq
    with redis_errors_exit():
        status, value = faq.teacher.teach(entry, text, "cli")
    if status == "unknown":
        ids = ", ".join(e.id for e in faq.knowledge.get().entries)
        click.echo(f"no entry {entry!r}: use an id or a topic; the ids are: {ids}", err=True)
        raise SystemExit(1)
    if status == "empty":
        click.echo("nothing to teach: the text is empty after normalising", err=True)
        raise SystemExit(1)
    if status == "taken":
        click.echo(f"not taught: {text!r} is already a whole-message rule of {value} in faq.yaml", err=True)
        raise SystemExit(1)
    faq.knowledge.refresh()  # compile with the teaching, as every host does at its next check
    faq.knowledge.settle()
    res = faq.knowledge.get().match(text)
    got = res.entry.id if res.kind == "answer" and res.entry else f"no answer ({res.kind})"
    click.echo(f"taught #{value.id}: {value.text!r} -> {value.entry}; with it, this is answered by: {got}; "
               f"undo: wxbot faq unteach {value.id}")


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
    """Remove teaching TEACHING_ID (see `wxbot faq teachings`)."""
    removed = _undone(obj.features.faq.teacher.unteach, teaching_id, f"no teaching #{teaching_id}")
    click.echo(f"removed #{removed.id}: {removed.text!r} -> {removed.entry}")


@cli.command("teachings")
@click.pass_obj
def teachings_cmd(obj) -> None:
    """List the phrasings taught in Redis (id, entry, text, by whom)."""
    _echo_rows(obj.features.faq.knowledge.teachings.all, "no teachings",
               lambda t: f"#{t.id:<5} {t.entry:<20} {t.text}  ({t.by})")


@cli.command("edits")
@click.pass_obj
def edits_cmd(obj) -> None:
    """List the console's FAQ edits in Redis (id, kind, entry, by whom); undo one with `wxbot faq undo`."""
    _echo_rows(obj.features.faq.knowledge.edits.all, "no edits",
               lambda e: f"#{e.id:<5} {e.kind:<10} {e.entry:<20} {' '.join(e.value.split())[:60]}  ({e.by})")


@cli.command("undo")
@click.argument("number", type=int)
@click.pass_obj
def undo_cmd(obj, number: int) -> None:
    """Undo console edit or teaching NUMBER (`wxbot faq edits`, `wxbot faq teachings`)."""
    removed = _undone(obj.features.faq.editor.undo, number, f"no edit or teaching #{number}")
    click.echo(f"undone #{number}: {getattr(removed, 'kind', 'teach')} of {removed.entry}")


@cli.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export_cmd(obj, file: Path | None) -> None:
    """Write faq.yaml with the teachings and console edits merged in (comments and order kept)."""
    from .export import merged_yaml

    kn = obj.features.faq.knowledge
    with redis_errors_exit():
        _, taught, edits = kn.edits.layers()
    text = merged_yaml(kn.path.read_text(encoding="utf-8"), taught, edits)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"{file}: {sum(map(len, taught.values()))} taught phrasings merged")


@cli.command("eval")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--misses", is_flag=True, help="Also list every message not answered right.")
@click.pass_obj
def eval_cmd(obj, file: Path, misses: bool) -> None:
    """Score a labelled set through the routes: right/wrong/fallback per entry and style, confusion pairs."""
    from .evaluation import evaluate_set

    faq = obj.features.faq.knowledge.get()  # faq.yaml plus the teachings, as followers meet it
    rep = evaluate_set(faq, _read_yaml(file) or {}, obj.routes_before_faq())
    click.echo(f"{file}: FAQ {faq.version}, {len(faq.entries)} entries")
    click.echo(f"on-topic: {rep.overall.line()}")
    click.echo("per style:")
    for style, t in sorted(rep.by_style.items()):
        click.echo(f"  {style:<14} {t.line()}")
    click.echo("per entry:")
    for entry, t in rep.by_entry.items():
        click.echo(f"  {entry:<20} {t.line()}")
    for name, t in (("password", rep.password), ("order reports", rep.order_reports),
                    ("off-topic (right = no fact)", rep.off_topic)):
        if t.total:
            click.echo(f"{name}: {t.line()}")
    if rep.confusion:
        click.echo("confusion (expected -> answered):")
        for (want, got), n in sorted(rep.confusion.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>3}  {want} -> {got}")
    if misses:
        for style, text, want, got in rep.misses:
            click.echo(f"  miss [{style}] {text!r}: want {want}, got {got}")
