"""A teaching reaches every gunicorn worker by itself: each worker watches the FAQ on a thread of its
own (``FaqKnowledge.watch`` from ``post_worker_init``), so a worker that gets no message still swaps
the new version in, and the first follower to ask after it gets the taught answer."""
from __future__ import annotations

import pytest
import yaml

from helpers.env import CONFIG_DIR, TOKEN, make_env
from helpers.procs import Gunicorn, fresh_transport
from wxbot.features.faq.store import TeachingStore
from wxbot.testing import WeChatSimulator

pytestmark = pytest.mark.ops

TAUGHT = "水星上的织布机能用你们的东西吗"  # nothing in the shipped FAQ answers it


def test_every_worker_swaps_a_teaching_in_without_a_message(spare_redis, tmp_path):
    answer = next(e["answer"] for e in yaml.safe_load((CONFIG_DIR / "faq.yaml").read_text(encoding="utf-8"))["entries"]
                  if e["id"] == "supported_apps").rstrip("\n")
    g = Gunicorn(make_env(spare_redis.url, CONFIG_DIR, tmp_path / "data"), workers=2).wait_ready()
    try:
        sim = WeChatSimulator(fresh_transport(g.url), TOKEN)
        assert sim.text("oWatchFollower0000000000001", TAUGHT).content != answer
        before = g.output().count("faq reloaded")
        TeachingStore(spare_redis.client()).teach("supported_apps", TAUGHT, "test")  # as another host would
        # No message in between: both workers reload on their own watch threads.
        g.wait_output(lambda out: out.count("faq reloaded") >= before + 2, timeout=30)
        for i in range(4):  # whichever worker takes it
            assert sim.text(f"oWatchFollower000000000001{i}", TAUGHT).content.rstrip("\n") == answer
    finally:
        g.stop()
        g.cleanup()
