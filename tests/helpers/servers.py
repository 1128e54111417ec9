"""Real local HTTP servers on 127.0.0.1 standing in for WeChat's API, webhooks and NextChat."""
from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body)


# (request) -> (status, body) or (status, body, headers); body may be dict (JSON) or bytes/str
Responder = Callable[[Recorded], tuple]


class LocalHTTPServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.routes: dict[str, Responder] = {}
        self.default: Responder = lambda req: (200, {"errcode": 0, "errmsg": "ok"})
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                with outer._lock:
                    outer.requests.append(req)
                responder = outer.routes.get(parts.path, outer.default)
                result = responder(req)
                status, payload = result[0], result[1]
                headers = result[2] if len(result) > 2 else {}
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload, ensure_ascii=False).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(payload, str):
                    data = payload.encode()
                else:
                    data = payload
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        """Accept until ``stop`` writes to the wake-up socket: ``serve_forever`` would instead poll for its
        shutdown flag every ``poll_interval``, which each test paid when it stopped its servers."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.httpd, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in sel.select()}
                if self._wake_r in ready:
                    return
                self.httpd.handle_request()  # readable: accepts at once, one thread per request

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(5)
        self.httpd.server_close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "LocalHTTPServer":
        return self  # a started server (wechat_api_server, picture_host), stopped when the block ends

    def __exit__(self, *exc) -> None:
        self.stop()

    def on(self, path: str, responder: Responder) -> None:
        self.routes[path] = responder

    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.calls(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        return self.calls(path)


def wechat_api_server() -> "LocalHTTPServer":
    """A started stand-in for WeChat's API that hands out an access token."""
    server = LocalHTTPServer()
    server.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "ACCESS-TOKEN", "expires_in": 7200}))
    server.start()
    return server


def picture_host(body: bytes) -> "LocalHTTPServer":
    """A started stand-in for WeChat's picture host (PicUrl) serving ``body`` as /pic/1.png."""
    server = LocalHTTPServer()
    server.on("/pic/1.png", lambda req: (200, body, {"Content-Type": "image/png"}))
    server.start()
    return server
