"""Redis failures in a few words for a person (the doctor, the CLI): no class names, no tracebacks."""
from __future__ import annotations

import pytest
import redis
import redis.sentinel

from wxbot.stores.redis import describe_error


@pytest.mark.parametrize("exc,words", [
    (redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused."), "连接被拒绝"),
    (redis.ConnectionError("Error 2 connecting to unix socket: /x/redis.sock. No such file or directory."),
     "找不到 socket"),
    (redis.ConnectionError("Error -2 connecting to nohost:6379. Name or service not known."), "找不到主机名"),
    (redis.AuthenticationError("WRONGPASS invalid username-password pair"), "密码错误"),
    (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), "它是只读副本"),
    (redis.TimeoutError("Timeout reading from socket"), "超时"),
    (redis.sentinel.MasterNotFoundError("No master found for 'mymaster'"), "没有哪个 Sentinel 知道这个 master"),
    (redis.ConnectionError(""), "没有应答"),
])
def test_each_failure_in_a_few_words(exc, words):
    assert describe_error(exc) == words
