"""The reply checks: links and numbers the FAQ does not state, the 2048-byte cap, the note, refusals."""
from __future__ import annotations

from wxbot.features.ai.checks import REFUSAL, Grounding, check_answer

FAQ = ("问：BASE URL 是多少？答：https://api.juheai.top 。余额查询：https://www.gptacg.com/juhebill/ 。"
       "客服微信 ACG508，3.5 模型 0.5 元起。")
NOTE = "（AI 回答，人工客服微信 ACG508）"


def check(raw: str, question: str = "怎么用"):
    return check_answer(raw, Grounding(FAQ), question, NOTE)


def test_links_not_in_the_faq_are_removed_and_faq_links_kept():
    got = check("接口地址是 https://api.juheai.top 。也可以用 https://evil.example.com/buy?x=1 购买。")
    assert "https://api.juheai.top" in got.text
    assert "evil" not in got.text and got.removed_urls == ["https://evil.example.com/buy?x=1"]


def test_a_sentence_with_a_number_or_price_the_faq_lacks_is_dropped():
    got = check("3.5 模型 0.5 元起。gpt-4o 每百万 tokens 只要 99 元！也可以五块钱包月。客服微信 ACG508。")
    assert "0.5 元起" in got.text and "ACG508" in got.text
    assert "99" not in got.text and "五块" not in got.text
    assert len(got.dropped) == 2


def test_numbers_the_follower_quoted_may_be_repeated_and_full_width_digits_are_numbers():
    assert "401" in check("提示 401 说明 Key 填错了。", question="提示401怎么办").text
    assert "７７" not in check("价格是７７元。好的。").text


def test_refusals_empty_answers_and_answers_with_nothing_left_are_refused():
    assert check(REFUSAL).refused
    assert check("   ").refused
    assert check("价格是 123 元。").refused


def test_the_answer_is_capped_at_2048_bytes_on_a_character_boundary_with_the_note():
    got = check("好" * 1500)
    data = got.text.encode("utf-8")
    assert len(data) <= 2048 and got.clipped
    assert got.text.endswith(NOTE)
    data.decode("utf-8")  # a whole number of characters


def test_every_answer_ends_with_the_note():
    assert check("请重新填写 Key。").text == "请重新填写 Key。\n" + NOTE
