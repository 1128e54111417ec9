#!/usr/bin/env python3
"""Receives wxbot's ticket webhook (WXBOT_TICKET_WEBHOOK_URL) and appends each event to a JSON-lines file.

Python standard library only; a starting point for a help-desk bridge. Run it with

    TICKET_SECRET=... python3 ticket_receiver.py        # listens on 127.0.0.1:8788, writes tickets.jsonl

and set WXBOT_TICKET_WEBHOOK_URL=http(s)://<this host>/wxbot-tickets and WXBOT_TICKET_WEBHOOK_SECRET=<the
same secret> on the bot. It checks the signature (X-Wxbot-Signature: sha256=HMAC of "<timestamp>.<body>",
timestamp within 300 s), dedupes on Idempotency-Key (wxbot delivers at least once: a retry of an event
already written gets 200 again and is not written twice) and answers 2xx only once the event is on
disk, so wxbot retries until then. See docs/support.md for the payload.
"""
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AGE = 300  # seconds a signed request stays valid
EVENTS = ("ticket.created", "ticket.screenshot")


def signature_ok(secret: bytes, ts: str, body: bytes, got: str, now: float) -> bool:
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return ts.isdigit() and abs(now - int(ts)) < MAX_AGE and hmac.compare_digest(expected, got)


def make_handler(secret: bytes, out_file: str):
    lock = threading.Lock()

    def seen_keys() -> set:
        try:
            with open(out_file, encoding="utf-8") as fh:
                return {json.loads(line)["key"] for line in fh if line.strip()}
        except FileNotFoundError:
            return set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not signature_ok(secret, self.headers.get("X-Wxbot-Timestamp", ""), body,
                                self.headers.get("X-Wxbot-Signature", ""), time.time()):
                return self.answer(401, "bad signature")
            key = self.headers.get("Idempotency-Key", "")
            try:
                event = json.loads(body)
                ticket_id = event["ticket"]["id"]
            except (ValueError, KeyError, TypeError):
                return self.answer(400, "bad json")
            if event.get("event") not in EVENTS or not key:
                return self.answer(400, "unknown event")
            with lock:
                if key in seen_keys():
                    return self.answer(200, "already received")
                with open(out_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "ticket": ticket_id, "event": event}, ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            return self.answer(200, "ok")

        def answer(self, status, text):
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # the events carry order numbers: keep them out of logs
            pass

    return Handler


def make_server(host: str, port: int, secret: bytes, out_file: str = "tickets.jsonl") -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(secret, out_file))


def main() -> None:
    env = os.environ
    make_server(env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8788")), env["TICKET_SECRET"].encode(),
                env.get("OUT_FILE", "tickets.jsonl")).serve_forever()


if __name__ == "__main__":
    main()
