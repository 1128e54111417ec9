"""Shared by the knowledge tests (tests/console/test_knowledge*.py, tests/features/faq/test_edits*.py):
a small FAQ of their own (so they do not move when the shipped faq.yaml is tuned), a question it does
not answer, and the inline-reload internals that make every app instance check Redis on every message."""
from __future__ import annotations

from pathlib import Path

from helpers.env import internals_env

FAQ_YAML = """\
# A small FAQ for the knowledge tests.
topics: [invoice, price]
greetings: [你好]
entries:
  - id: invoice
    topic: 发票
    question: 可以开发票吗？
    answer: |
      可以开发票，请把抬头和税号发给客服。
      说明：https://example.com/invoice
    contains: [发票, 开票]
    examples:
      - 能开票吗
      - 开个发票
  - id: price
    topic: 价格
    question: Key 多少钱？
    answer: 价格请看 <a href="https://www.juheaistore.top">自助购买网站</a>
    contains: [多少钱, 价格]
    examples:
      - key怎么卖
"""

UNMATCHED = "蓝色小鲸鱼那个软件能不能用"  # nothing in FAQ_YAML answers it
INVOICE = "可以开发票，请把抬头和税号发给客服。"
PRICE = "价格请看"


def inline_reload_env(**areas: dict) -> dict:
    """``WXBOT_TEST_INTERNALS``: FAQ and texts checked on every message, the FAQ recompiled inline."""
    return internals_env(webhook={"config_reload_interval": 0}, faq={"reload_in_background": False}, **areas)


def write_faq(config_dir: Path) -> Path:
    path = Path(config_dir) / "faq.yaml"
    path.write_text(FAQ_YAML, encoding="utf-8")
    return path
