"""A local OpenAI-compatible server for the AI tests: answers at once, when the test releases it
(a threading.Event, so a "slow" model costs no wall-clock time), never, 429, 500, garbage, or
whatever answer the test sets."""
from __future__ import annotations

import itertools
import threading
import time

from helpers.servers import LocalHTTPServer
from wxbot.wechat.protocol import Message

PATH = "/v1/chat/completions"
CS_PATH = "/cgi-bin/message/custom/send"
AI_KEY = "sk-test-ai-key-0123456789abcdef"
# A question the shipped FAQ has no answer for (checked by a test).
QUESTION = "gpt-4o和4-turbo哪个便宜"

_ids = itertools.count(int(time.time() * 1000) % 10**9 * 100)


def text_message(openid: str, content: str) -> Message:
    return Message(to_user="gh_test", from_user=openid, create_time=int(time.time()), type="text",
                   msg_id=str(next(_ids)), content=content)


def completion(text: str, tokens: int = 42) -> dict:
    return {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": text}, "finish_reason": "stop"}], "usage": {"total_tokens": tokens}}


class FakeModel:
    def __init__(self) -> None:
        self.server = LocalHTTPServer()
        self.mode = "ok"  # ok | release | never | 429 | 500 | garbage | empty
        self.answer = "请在菜单点击【密码】获取公益版密码。"
        self.tokens = 42
        self.release = threading.Event()
        self.entered = threading.Event()  # a call is in progress
        self._stop = threading.Event()
        self.server.on(PATH, self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self):
        return self.server.calls(PATH)

    def _respond(self, req):
        self.entered.set()
        if self.mode == "release":
            self.release.wait(10)
        elif self.mode == "never":
            self._stop.wait(10)
            return 200, completion("too late")
        if self.mode == "429":
            return 429, {"error": {"message": "rate limited"}}
        if self.mode == "500":
            return 500, {"error": {"message": "boom"}}
        if self.mode == "garbage":
            return 200, b"<html>not json", {"Content-Type": "text/html"}
        if self.mode == "empty":
            return 200, completion("  ")
        return 200, completion(self.answer, self.tokens)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self._stop.set()
        self.release.set()
        self.server.stop()
