"""The claim lease of side-effect routes: a holder that never stored an outcome is taken over once its
lease ran out, unless it extended the lease (a long wait that is alive)."""
from __future__ import annotations

import time

from wxbot.stores.dedupe import DedupeStore

OPENID = "oLeaseFollower0000000000001"


def wait_redis_ms(r, ms: float) -> None:
    """Until Redis's clock (the one the claim script reads) has passed ``ms``."""
    while True:
        sec, usec = r.time()
        if int(sec) * 1000 + int(usec) // 1000 > ms:
            return
        time.sleep(0.02)


def now_ms(r) -> int:
    sec, usec = r.time()
    return int(sec) * 1000 + int(usec) // 1000


def test_a_dead_holder_is_taken_over_after_its_lease(redis_client):
    store = DedupeStore(redis_client, 60, 60, lease_seconds=0.3)
    first = store.claim("m:1", OPENID, replayable=False)
    claimed = now_ms(redis_client)  # the lease runs from the claim's own time, at most this
    assert not first.duplicate and first.token
    assert store.claim("m:1", OPENID, replayable=False).duplicate  # the holder may still be working
    wait_redis_ms(redis_client, claimed + 301)
    second = store.claim("m:1", OPENID, replayable=False)
    assert not second.duplicate and second.token != first.token
    assert not store.extend_lease("m:1", first.token, 5)  # the old holder lost it


def test_an_extended_lease_keeps_the_claim(redis_client):
    store = DedupeStore(redis_client, 60, 60, lease_seconds=0.3)
    start = now_ms(redis_client)
    first = store.claim("m:2", OPENID, replayable=False)
    assert store.extend_lease("m:2", first.token, 30)
    wait_redis_ms(redis_client, start + 300)
    assert store.claim("m:2", OPENID, replayable=False).duplicate
    store.store_reply("m:2", "done")
    assert not store.extend_lease("m:2", first.token, 30)  # an outcome is stored: nothing to extend


def test_replayable_claims_have_no_lease(redis_client):
    store = DedupeStore(redis_client, 60, 60, lease_seconds=0.1)
    start = now_ms(redis_client)
    store.claim("m:3", OPENID)
    wait_redis_ms(redis_client, start + 100)
    assert store.claim("m:3", OPENID).duplicate


def test_a_server_that_lost_its_scripts_still_claims(redis_client):
    store = DedupeStore(redis_client, 60, 60)
    assert not store.claim("m:flush:1", OPENID).duplicate
    redis_client.script_flush()  # what a restarted server without persistence of scripts looks like
    assert not store.claim("m:flush:2", OPENID).duplicate
    assert store.claim("m:flush:2", OPENID).duplicate
