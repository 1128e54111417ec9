"""The claim counts WeChat's deliveries of a message for routes that ask, in its one round trip."""
from __future__ import annotations

from wxbot.stores import keys
from wxbot.stores.dedupe import ClaimNeeds, DedupeStore


def test_deliveries_are_counted_only_for_routes_that_ask(redis_client):
    store = DedupeStore(redis_client, ttl_seconds=60, msg_window=60)
    counted = ClaimNeeds(deliveries=True)
    got = [store.claim("m:1", "o_a", counted) for _ in range(3)]
    assert [c.deliveries for c in got] == [1, 2, 3]
    assert [c.duplicate for c in got] == [False, True, True]
    assert 0 < redis_client.pttl(keys.dedupe_deliveries("m:1")) <= 60_000
    plain = store.claim("m:2", "o_a")
    assert plain.deliveries == 0 and not redis_client.exists(keys.dedupe_deliveries("m:2"))
