"""``wxbot ai ask|unmatched``."""
from __future__ import annotations

import time

import click

from ...clitools import CliContext, redis_errors_exit


@click.group("ai")
def cli() -> None:
    """AI 回答：试问一个问题，列出 AI 对没答上的问题给出的回答。"""


@cli.command("ask")
@click.argument("text")
@click.pass_obj
def ask_cmd(obj: CliContext, text: str) -> None:
    """显示粉丝发送 TEXT 时会从 AI 得到什么回答，以及原因（FAQ 分数、提示词、token 数、检查结果）。

    不保存任何内容，也不占用额度；只有这个问题归 AI 回答时，才调用一次模型。"""
    from ...router import Ctx
    from ...wechat.protocol import Message
    from ..faq import KIND_WORDS  # what the FAQ decided, as `wxbot faq match` says it
    from .client import ModelError
    from .prompt import SystemPrompt
    from .task import AiTask

    features = obj.features
    ai = features.ai
    ctx = Ctx(obj.services, "o_cli")
    msg = Message(type="text", to_user="gh_cli", from_user="o_cli", create_time=int(time.time()), content=text,
                  msg_id="0")
    res = ai.knowledge.result(msg, ctx)
    click.echo(f"FAQ：{KIND_WORDS.get(res.kind, res.kind)}（最高分 {res.score:g}，阈值 {ai.knowledge.cfg.threshold:g}）"
               + (f" 条目 {res.entry.id}" if res.kind == "answer" and res.entry else ""))
    click.echo(f"交给 AI 的问题：{'是' if ai.is_question(text) else '否（太短、# 指令或道谢）'}")
    if not ai.match(msg, ctx):
        click.echo("路由：不归 AI（由 FAQ 回答、反问是哪一个，或者给出兜底回复）")
        return
    prompt_path = obj.services.settings.config_dir / ai.cfg.prompt_file
    task = AiTask(obj.services, ai.knowledge, ai.store, SystemPrompt(prompt_path))
    prompt, _ = task.prompt_for(text)
    size = sum(len(m["content"].encode("utf-8")) for m in prompt.messages)
    click.echo(f"提示词：{len(prompt.messages)} 条消息，{prompt.chars} 个字符，{size} 字节，"
               f"模型 {ai.cfg.model}")
    if not ai.enabled:
        click.echo("模型：没有调用（AI 回答已关闭：没有设置 WXBOT_AI_API_KEY）")
        return
    try:
        checked, completion, _ = task.ask(text, ai.cfg.call_deadline)
    except ModelError as exc:
        click.echo(f"模型：调用失败（{exc}）；粉丝会收到兜底回复：")
        click.echo(ai.fallback(ctx))
        raise SystemExit(1) from None
    finally:
        task.pool.shutdown(wait=False)
    click.echo(f"模型：{completion.tokens} 个 token，{completion.seconds:.2f} 秒")
    click.echo(f"检查：{checked.summary()}")
    for url in checked.removed_urls:
        click.echo(f"  删掉的链接：{url}")
    for sentence in checked.dropped:
        click.echo(f"  删掉的句子（数字或价格不在 FAQ 里）：{sentence}")
    click.echo("粉丝收到：")
    click.echo(ai.fallback(ctx) if checked.refused else checked.text)


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="列出多少条。")
@click.pass_obj
def unmatched_cmd(obj: CliContext, limit: int) -> None:
    """没答上的问题，出现最多的在前，附 AI 的回答（已遮盖敏感信息），可以据此新增 FAQ 条目。"""
    features = obj.features
    with redis_errors_exit():
        rows = features.faq.knowledge.unmatched.top(limit)
        answers = features.ai.store.answers([m for m, _ in rows])
    if not rows:
        click.echo("没有记录到没答上的问题")
    for member, count in rows:
        got = answers.get(member)
        click.echo(f"{count:>6}  {member}")
        if got:
            click.echo(f"        AI ({got.get('how')}): {' '.join(str(got.get('a', '')).split())[:300]}")

