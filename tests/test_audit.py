from wxbot.audit import AuditLog


def test_actions_are_kept_newest_first_and_capped(redis_client):
    log = AuditLog(redis_client, retention=50)
    for i in range(300):
        log.record("cli", "password.rotate", f"v{i}", now=1000.0 + i)
    rows = log.recent(5)
    assert [r.target for r in rows] == ["v299", "v298", "v297", "v296", "v295"]
    assert rows[0].actor == "cli" and rows[0].result == "ok" and rows[0].at == 1299.0
    assert redis_client.xlen("wxbot:audit") < 300  # trimmed (approximately) to the retention
