"""``wxbot ai ask|unmatched``."""
from __future__ import annotations

import time

import click

from ...clitools import CliContext, redis_errors_exit


@click.group("ai")
def cli() -> None:
    """AI answers: try a question, list the AI's answers to unmatched questions."""


@cli.command("ask")
@click.argument("text")
@click.pass_obj
def ask_cmd(obj: CliContext, text: str) -> None:
    """Show what a follower sending TEXT would get from the AI, and why (FAQ score, prompt, tokens, checks).

    Nothing is stored and no quota is used; the model is called once when the question is the AI's."""
    from ...router import Ctx
    from ...wechat.protocol import Message
    from .client import ModelError
    from .prompt import SystemPrompt
    from .task import AiTask

    features = obj.features
    ai = features.ai
    ctx = Ctx(obj.services, "o_cli")
    msg = Message(type="text", to_user="gh_cli", from_user="o_cli", create_time=int(time.time()), content=text,
                  msg_id="0")
    res = ai.knowledge.result(msg, ctx)
    click.echo(f"faq: {res.kind} (best score {res.score:g}, threshold {ai.knowledge.cfg.threshold:g})"
               + (f" entry {res.entry.id}" if res.kind == "answer" and res.entry else ""))
    click.echo(f"a question for the AI: {'yes' if ai.is_question(text) else 'no (too short, # command or thanks)'}")
    if not ai.match(msg, ctx):
        click.echo("route: not the AI's (the FAQ answers it, asks which one, or gives its fallback)")
        return
    prompt_path = obj.services.settings.config_dir / ai.cfg.prompt_file
    task = AiTask(obj.services, ai.knowledge, ai.store, SystemPrompt(prompt_path))
    prompt, _ = task.prompt_for(text)
    size = sum(len(m["content"].encode("utf-8")) for m in prompt.messages)
    click.echo(f"prompt: {len(prompt.messages)} messages, {prompt.chars} characters, {size} bytes, "
               f"model {ai.cfg.model}")
    if not ai.enabled:
        click.echo("model: not called (AI answers are off: WXBOT_AI_API_KEY is not set)")
        return
    try:
        checked, completion, _ = task.ask(text, ai.cfg.call_deadline)
    except ModelError as exc:
        click.echo(f"model: failed ({exc}); the follower gets the fallback:")
        click.echo(ai.fallback(ctx))
        raise SystemExit(1) from None
    finally:
        task.pool.shutdown(wait=False)
    click.echo(f"model: {completion.tokens} tokens, {completion.seconds:.2f} s")
    click.echo(f"checks: {checked.summary()}")
    for url in checked.removed_urls:
        click.echo(f"  removed link: {url}")
    for sentence in checked.dropped:
        click.echo(f"  dropped (number or price not in the FAQ): {sentence}")
    click.echo("follower gets:")
    click.echo(ai.fallback(ctx) if checked.refused else checked.text)


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="How many to list.")
@click.pass_obj
def unmatched_cmd(obj: CliContext, limit: int) -> None:
    """Unmatched questions, most frequent first, with the AI's (masked) answer, to turn into FAQ entries."""
    features = obj.features
    with redis_errors_exit():
        rows = features.faq.knowledge.unmatched.top(limit)
        answers = features.ai.store.answers([m for m, _ in rows])
    if not rows:
        click.echo("no unmatched questions recorded")
    for member, count in rows:
        got = answers.get(member)
        click.echo(f"{count:>6}  {member}")
        if got:
            click.echo(f"        AI ({got.get('how')}): {' '.join(str(got.get('a', '')).split())[:300]}")
