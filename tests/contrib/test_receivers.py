"""The receivers under contrib/, fed by wxbot's own signed requests (the worker's real sync and ticket
delivery), on 127.0.0.1."""
from __future__ import annotations

import importlib.util
import json
import threading
import time

import pytest

from helpers.env import ROOT
from helpers.tickets import ticket_internals_env

SECRET = "receiver-secret-0123456789abcdef"
OPENID = "oReceiverFollower0000000001"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"contrib_{name}", ROOT / "contrib" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def receiver(request, tmp_path):
    """Start ``contrib/<name>.py``'s server on a free port; yields (module, url, server)."""
    module = load(request.param)
    if request.param == "nextchat_receiver":
        server = module.make_server("127.0.0.1", 0, SECRET.encode(), str(tmp_path / "nextchat.env"),
                                    str(tmp_path / "state.json"), restart="true", health_url="")
    else:
        server = module.make_server("127.0.0.1", 0, SECRET.encode(), str(tmp_path / "tickets.jsonl"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield module, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def env_overrides(request, receiver) -> dict:
    _, url, _ = receiver
    if request.node.get_closest_marker("nextchat"):
        return {"WXBOT_PASSWORD_SYNC_URL": url + "/wxbot-sync", "WXBOT_PASSWORD_SYNC_SECRET": SECRET}
    return {"WXBOT_TICKET_WEBHOOK_URL": url + "/wxbot-tickets", "WXBOT_TICKET_WEBHOOK_SECRET": SECRET,
            **ticket_internals_env()}


@pytest.mark.nextchat
@pytest.mark.parametrize("receiver", ["nextchat_receiver"], indirect=True)
def test_nextchat_receiver_applies_wxbot_sync(app, tmp_path, receiver):
    features = app.extensions["wxbot"].features
    pw = features.password.passwords
    sync = features.password.sync
    rot, password = pw.rotate("cli", "cli")
    assert pw.store.state().pending  # not shown before NextChat confirms
    assert sync.sync_once() is True
    env = (tmp_path / "nextchat.env").read_text()
    assert env.strip() == f"CODE={password}"
    st = pw.store.state()
    assert not st.pending and st.shown.password == password
    assert json.loads((tmp_path / "state.json").read_text())["version"] == rot.version
    # A second rotation keeps the password followers saw in the list (grace period).
    _, second = pw.rotate("cli", "cli")
    assert sync.sync_once() is True
    assert (tmp_path / "nextchat.env").read_text().strip() == f"CODE={second},{password}"


@pytest.mark.nextchat
@pytest.mark.parametrize("receiver", ["nextchat_receiver"], indirect=True)
def test_nextchat_receiver_refuses_a_wrong_signature(app, settings, tmp_path, receiver):
    import httpx

    _, url, _ = receiver
    body = json.dumps({"version": 1, "codes": ["Abcdef12"]}).encode()
    ts = str(int(time.time()))
    resp = httpx.post(url + "/wxbot-sync", content=body, headers={"X-Wxbot-Timestamp": ts,
                                                                  "X-Wxbot-Signature": "sha256=00"})
    assert resp.status_code == 401 and not (tmp_path / "nextchat.env").exists()


@pytest.mark.parametrize("receiver", ["ticket_receiver"], indirect=True)
def test_ticket_receiver_records_each_ticket_once(app, sim, tmp_path, receiver):
    features = app.extensions["wxbot"].features
    created = sim.text(OPENID, "付款后没收到key 订单号 E2024061599999999")
    assert "工单" in created.content
    delivery = features.tickets.worker_tasks()[1]
    out = tmp_path / "tickets.jsonl"
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        delivery.tick()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1
    ticket = rows[0]["event"]["ticket"]
    assert rows[0]["event"]["event"] == "ticket.created" and ticket["order_no"] == "E2024061599999999"
    assert rows[0]["key"] == ticket["id"]
    # wxbot's retry of the same event (at-least-once delivery) is acknowledged and not written again.
    from wxbot.notifiers.webhook import post_signed_json

    _, url, _ = receiver
    post_signed_json(features.services.http, url + "/wxbot-tickets", SECRET, rows[0]["event"], 5.0,
                     extra_headers={"Idempotency-Key": rows[0]["key"]})
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
