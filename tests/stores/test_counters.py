"""The dashboard's hourly counters: written by the claim's one Lua script, read back as series."""
from __future__ import annotations

import pytest

from wxbot.stores import counters, keys
from wxbot.stores.counters import HOUR, TTL, Counters
from wxbot.stores.dedupe import DedupeStore

NOW = 1_750_003_600.0 + 1234  # 1234 s into an hour
H = int(NOW // HOUR)


def store(redis_client, limit: int = 1 << 30) -> DedupeStore:
    return DedupeStore(redis_client, ttl_seconds=60, msg_window=60, msg_limit=limit)


def test_a_new_claim_counts_its_route_in_the_hour_of_now_with_a_ttl_over_a_month(redis_client):
    s = store(redis_client)
    s.claim("m:1", "o_a", stat="r:password", now=NOW)
    s.claim("m:2", "o_b", stat="r:password", now=NOW + 10)
    s.claim("m:3", "o_a", stat="r:faq:answered", now=NOW)
    s.claim("m:4", "o_a", stat="r:faq:answered", now=NOW + HOUR)  # the next hour
    assert redis_client.hgetall(keys.stats_hour(H)) == {"r:password": "2", "r:faq:answered": "1"}
    assert redis_client.hgetall(keys.stats_hour(H + 1)) == {"r:faq:answered": "1"}
    assert 31 * 86400 < redis_client.ttl(keys.stats_hour(H)) <= TTL


def test_retries_and_claims_without_a_stat_count_nothing(redis_client):
    s = store(redis_client)
    first = s.claim("m:1", "o_a", stat="r:faq:unmatched", now=NOW)
    again = s.claim("m:1", "o_a", stat="r:faq:unmatched", now=NOW)
    s.claim("m:2", "o_a", now=NOW)  # no stat: the claim touches no counter
    assert not first.duplicate and again.duplicate
    assert first.stat == (keys.stats_hour(H), "r:faq:unmatched") and again.stat == ("", "")
    assert redis_client.hgetall(keys.stats_hour(H)) == {"r:faq:unmatched": "1"}
    assert redis_client.keys("wxbot:stats:*") == [keys.stats_hour(H)]


def test_messages_over_the_limit_are_counted_as_rate_limited_only_when_the_route_is_limited(redis_client):
    s = store(redis_client, limit=2)
    for i in range(4):
        s.claim(f"m:{i}", "o_a", stat="r:faq:answered", now=NOW, limited=True)
    s.claim("m:u", "o_a", stat="r:unsubscribe", now=NOW, limited=False)  # over the limit, but not limited
    assert redis_client.hgetall(keys.stats_hour(H)) == {"r:faq:answered": "2", counters.RATE_LIMITED: "2",
                                                         "r:unsubscribe": "1"}


def test_store_reply_moves_a_message_to_the_route_that_took_it_in_the_same_round_trip(redis_client):
    s = store(redis_client)
    claim = s.claim("m:1", "o_a", stat="r:fallback", now=NOW, replayable=False)
    move = counters.recount_args(claim.stat, "r:tickets_dialog")
    s.store_reply("m:1", "收到", recount=move)
    assert redis_client.hgetall(keys.stats_hour(H)) == {"r:fallback": "0", "r:tickets_dialog": "1"}
    assert redis_client.get(keys.dedupe("m:1")) == "R收到"
    s.recount(counters.recount_args((keys.stats_hour(H), "r:tickets_dialog"), "r:faq:answered"))
    assert redis_client.hget(keys.stats_hour(H), "r:faq:answered") == "1"
    # nothing to move: no claim counter, the same field, or a message counted as over the limit
    assert counters.recount_args(("", ""), "r:x") is None
    assert counters.recount_args((keys.stats_hour(H), "r:x"), "r:x") is None
    assert counters.recount_args((keys.stats_hour(H), counters.RATE_LIMITED), "r:x") is None


def test_series_sums_hours_into_buckets_of_any_whole_number_of_hours(redis_client):
    s = store(redis_client)
    start = H * HOUR
    for i, hour in enumerate((0, 0, 1, 5, 23, 24, 47)):
        s.claim(f"m:{i}", "o_a", stat="r:password" if hour % 2 == 0 else "r:faq:answered", now=start + hour * HOUR + 5)
    hourly = Counters(redis_client).series(start, 3)
    assert hourly.starts == [start, start + HOUR, start + 2 * HOUR] and hourly.step == HOUR
    assert hourly.values == {"r:password": [2, 0, 0], "r:faq:answered": [0, 1, 0]}
    daily = Counters(redis_client).series(start, 2, 24 * HOUR)
    assert daily.values == {"r:password": [2, 1], "r:faq:answered": [3, 1]}
    assert daily.total("r:password") == 3 and daily.sum_of(["r:password", "r:faq:answered"]) == [5, 2]
    assert daily.fields() == ["r:faq:answered", "r:password"]
    assert Counters(redis_client).series(start + 48 * HOUR, 1).values == {}  # nothing there yet


def test_series_skips_values_that_are_not_counts_and_refuses_partial_hours(redis_client):
    redis_client.hset(keys.stats_hour(H), mapping={"r:password": "3", "r:junk": "x"})
    assert Counters(redis_client).series(H * HOUR, 1).values == {"r:password": [3]}
    with pytest.raises(ValueError):
        Counters(redis_client).series(H * HOUR, 1, step=1800)
    assert Counters(redis_client).hours(H, H - 1) == {}


def test_route_field_and_hour_of():
    assert counters.route_field("faq", "answered") == "r:faq:answered"
    assert counters.route_field("password") == "r:password"
    assert counters.hour_of(NOW) == H and counters.hour_of(H * HOUR) == H
