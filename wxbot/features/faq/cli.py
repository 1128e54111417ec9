"""``wxbot faq lint|match|unmatched``."""
from __future__ import annotations

from pathlib import Path

import click
import yaml

from ...clitools import CliContext, exit_on_config_error, redis_errors_exit
from ...defaults import Faq as FaqInternals
from ...settings import FaqPolicy, load_bot_config
from .knowledge import faq_path, match_options
from .matcher import compile_faq, lint


@click.group("faq")
def cli() -> None:
    """FAQ knowledge base: lint the file, explain a match, list unmatched questions."""


def _faq_config(obj: CliContext, config_dir: Path | None) -> tuple[Path, FaqPolicy]:
    """The configured faq.yaml and knobs; with ``--config-dir`` no other setting (secret) is needed."""
    config_dir = config_dir or obj.settings.config_dir
    with exit_on_config_error():
        cfg = load_bot_config(config_dir).faq
    return faq_path(config_dir, cfg), cfg


def _options(cfg: FaqPolicy):
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
    """Show how TEXT is matched: the decision, the chosen entry, its score and the runners-up."""
    path, cfg = _faq_config(obj, config_dir)
    raw = _read_yaml(path)
    problems = lint(raw, _options(cfg))
    if problems:
        click.echo(f"{path}: {problems[0]} (run `wxbot faq lint`)", err=True)
        raise SystemExit(1)
    faq = compile_faq(raw, _options(cfg))
    res = faq.match(text, explain=True)
    click.echo(f"normalised: {res.text}")
    if res.kind in ("answer", "ambiguous") and res.entry is not None:
        shown = res.entry if res.kind == "answer" else None
        if shown is not None:
            route = f" -> route {shown.route}" if shown.route else ""
            click.echo(f"decision: answer {shown.id} (score {res.score:g}, threshold {cfg.threshold:g}){route}")
        else:
            ids = ", ".join(e.id for e, _ in res.candidates)
            click.echo(f"decision: ambiguous, asks which one: {ids}")
    else:
        click.echo(f"decision: {res.kind} (best score {res.score:g} < threshold {cfg.threshold:g})")
    for rank, (entry, score) in enumerate(res.ranking[: top + 1], 1):
        why = " ".join(res.reasons.get(entry.index, []))
        click.echo(f"  {rank}. {entry.id:<20} score {score:<7g} topic {entry.topic}  [{why}]")
    if not res.ranking:
        click.echo("  (no entry matched any rule)")


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="How many to list.")
@click.option("--clear", is_flag=True, help="Forget the list after showing it.")
@click.pass_obj
def unmatched_cmd(obj, limit: int, clear: bool) -> None:
    """List questions the FAQ did not answer, most frequent first (masked, normalised)."""
    base = obj.features.faq.knowledge
    with redis_errors_exit():
        rows = base.unmatched.top(limit)
        if not rows:
            click.echo("no unmatched questions recorded")
        for member, count in rows:
            click.echo(f"{count:>6}  {member}")
        if clear:
            base.unmatched.clear()
            click.echo("cleared")
