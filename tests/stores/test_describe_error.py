"""Redis failures in a few words for a person (the doctor, the CLI): no class names, no tracebacks."""
from __future__ import annotations

import pytest
import redis
import redis.sentinel

from wxbot.stores.redis import describe_error


@pytest.mark.parametrize("exc,words", [
    (redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused."), "connection refused"),
    (redis.ConnectionError("Error 2 connecting to unix socket: /x/redis.sock. No such file or directory."),
     "socket not found"),
    (redis.ConnectionError("Error -2 connecting to nohost:6379. Name or service not known."), "host name not found"),
    (redis.AuthenticationError("WRONGPASS invalid username-password pair"), "wrong password"),
    (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), "it is a read-only replica"),
    (redis.TimeoutError("Timeout reading from socket"), "timed out"),
    (redis.sentinel.MasterNotFoundError("No master found for 'mymaster'"), "no sentinel knows that master"),
    (redis.ConnectionError(""), "no answer"),
])
def test_each_failure_in_a_few_words(exc, words):
    assert describe_error(exc) == words
