"""The seller's OpenAI-compatible API: one ``POST /v1/chat/completions`` with the project's httpx client,
explicit timeouts and an overall deadline (``openai`` would bring a second HTTP stack and its own
retries). Called from the worker (and ``wxbot ai ask`` / ``wxbot doctor``), never from the webhook.
The API key is sent only in the Authorization header and never logged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from ...notifiers.webhook import DeadlineExceeded, with_deadline


class ModelError(Exception):
    """A call that gave no usable answer; ``kind`` is a metric label: timeout, transport, http_429,
    http_5xx, http_4xx (401: the key; 404: the model or base URL), bad_json, empty. Each kind has a
    ``ai.reason_<kind>`` text (config/texts.yaml) that the admins' alert shows."""

    KINDS = ("timeout", "transport", "http_429", "http_5xx", "http_4xx", "bad_json", "empty")

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}{': ' + detail if detail else ''}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: int
    seconds: float


def completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")


class ModelClient:
    def __init__(self, http: httpx.Client, base_url: str, api_key: str, connect_timeout: float = 3.0):
        self.http = http
        self.url = completions_url(base_url)
        self._key = api_key
        self.connect_timeout = connect_timeout

    def complete(self, messages: list[dict[str, str]], model: str, temperature: float, max_tokens: int,
                 deadline: float) -> Completion:
        """One call, finished (or abandoned) within ``deadline`` seconds; raises ModelError."""
        body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                "stream": False}
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        timeout = httpx.Timeout(deadline, connect=min(self.connect_timeout, deadline))
        started = time.monotonic()

        def post(abandon) -> httpx.Response:  # noqa: ARG001 - one request, bounded by its timeouts
            return self.http.post(self.url, json=body, headers=headers, timeout=timeout)

        try:
            resp = with_deadline(post, deadline, "wxbot-ai")
        except (DeadlineExceeded, httpx.TimeoutException):
            raise ModelError("timeout", f"no answer within {deadline:.1f}s") from None
        except httpx.HTTPError as exc:
            raise ModelError("transport", exc.__class__.__name__) from None
        seconds = time.monotonic() - started
        if resp.status_code == 429:
            raise ModelError("http_429", "rate limited")
        if resp.status_code >= 500:
            raise ModelError("http_5xx", f"HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise ModelError("http_4xx", f"HTTP {resp.status_code}")
        try:
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError("bad_json", "not a chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise ModelError("empty", "empty answer")
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = 0
        if isinstance(usage, dict):
            try:
                tokens = int(usage.get("total_tokens") or 0) or \
                    int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
            except (TypeError, ValueError):
                tokens = 0
        if tokens <= 0:  # no usage reported: a rough estimate, so the daily budget still counts it
            tokens = (sum(len(m["content"]) for m in messages) + len(content)) // 2 + 1
        return Completion(content.strip(), tokens, seconds)
