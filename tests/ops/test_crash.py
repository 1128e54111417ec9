"""A web process killed for real between the dedupe claim and the ticket script: WeChat's retries wait
while the dead holder's lease lasts, then the next one takes the claim over and creates exactly one
ticket. Real gunicorn (its worker SIGKILLed by the test-only fault hook), real Redis."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from helpers.env import CONFIG_DIR, TOKEN, internals_env, make_env
from helpers.procs import Gunicorn, fresh_transport
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator

pytestmark = pytest.mark.ops

OPENID = "oCrashFollower0000000000001"
REPORT = "付款了key没有发给我 订单号 E2024061512345678 99元"


def redis_ms(r) -> int:
    sec, usec = r.time()
    return int(sec) * 1000 + int(usec) // 1000


def test_killed_between_claim_and_ticket_then_a_retry_takes_over(redis_server, redis_client, tmp_path):
    fault = tmp_path / "kill-after-claim"
    env = make_env(redis_server, CONFIG_DIR, tmp_path / "data",
                   **internals_env(webhook={"fault_kill_after_claim": str(fault), "claim_lease": 1.0,
                                            "pending_wait": 0.3}))
    g = Gunicorn(env, workers=1).wait_ready()
    try:
        sim = WeChatSimulator(fresh_transport(g.url, timeout=10), TOKEN)
        fields = sim.text_fields(OPENID, REPORT)
        (victim,) = g.worker_pids()
        fault.touch()
        with pytest.raises(httpx.TransportError):  # the worker dies mid-request: no answer at all
            sim.send(fields)
        assert not fault.exists()
        g.wait_ready()
        assert victim not in g.worker_pids()
        (key,) = redis_client.keys("wxbot:dedupe:*")
        held = json.loads(redis_client.get(key)[1:])
        assert "l" in held  # the dead holder's claim, with its lease
        assert redis_client.zcard(keys.TICKETS_ALL) == 0

        # WeChat's retry while the lease lasts: treated as a duplicate of a live first delivery.
        if redis_ms(redis_client) < held["l"]:
            retry = sim.send(fields)
            assert retry.status == 200 and retry.is_success
            assert redis_client.zcard(keys.TICKETS_ALL) == 0

        while redis_ms(redis_client) <= held["l"]:  # the lease runs out (Redis's clock decides)
            time.sleep(0.05)
        taken = sim.send(fields)
        assert taken.status == 200 and taken.content
        (tid,) = redis_client.zrange(keys.TICKETS_ALL, 0, -1)
        assert tid in taken.content

        # Later retries replay the stored reply; still one ticket, one delivery job.
        again = sim.send(fields)
        assert again.content == taken.content
        assert redis_client.zcard(keys.TICKETS_ALL) == 1
        assert len(redis_client.xrange(keys.TICKETS_STREAM)) == 1
    finally:
        g.stop()
        g.cleanup()
