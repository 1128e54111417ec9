"""Messages through the real webhook land in the dashboard's counters under the route that took them."""
from __future__ import annotations

import time

from wxbot.stores import keys
from wxbot.stores.counters import HOUR, Counters

A, B = "oCounterFollower0000000000A", "oCounterFollower0000000000B"


def counts(redis_client) -> dict[str, int]:
    hour = int(time.time() // HOUR)
    rows = Counters(redis_client).hours(hour - 1, hour + 1)  # the test may cross an hour boundary
    out: dict[str, int] = {}
    for row in rows.values():
        for name, value in row.items():
            out[name] = out.get(name, 0) + value
    return {k: v for k, v in out.items() if v}


def test_each_message_is_counted_once_by_route_and_the_faq_by_its_result(sim, redis_client):
    sim.text(A, "密码")
    sim.text(A, "如何购买 API-Key？")  # the FAQ answers
    sim.text(B, "今天晚饭吃什么比较好呢朋友们")  # the FAQ has no answer
    sim.text(B, "谢谢")
    sim.subscribe(B)
    assert counts(redis_client) == {"r:password": 1, "r:faq:answered": 1, "r:faq:unmatched": 1, "r:faq:ack": 1,
                                    "r:subscribe": 1}


def test_a_retry_of_the_same_message_is_not_counted_again(sim, redis_client):
    fields = sim.text_fields(A, "如何购买 API-Key？", msg_id=777)
    first = sim.send(fields)
    again = sim.send(fields)
    assert first.content == again.content
    assert counts(redis_client) == {"r:faq:answered": 1}


def test_a_message_a_ticket_dialogue_takes_after_the_claim_is_moved_to_the_dialogue(sim, redis_client):
    sim.text(A, "钱扣了没收到key")  # starts a report
    created = sim.text(A, "E2024061500001111")  # routed as a question, taken by the report in progress
    tid = redis_client.zrange(keys.TICKETS_ALL, 0, -1)[0]
    assert tid in created.content
    assert counts(redis_client) == {"r:tickets_intake": 1, "r:tickets_dialog": 1}
