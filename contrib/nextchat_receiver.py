#!/usr/bin/env python3
"""Receives wxbot's password sync, rewrites NextChat's CODE and recreates the NextChat container.

Python standard library only. Run next to NextChat's docker-compose.yml (service `nextchat`,
`env_file: nextchat.env`):

    SYNC_SECRET=... python3 nextchat_receiver.py          # listens on 127.0.0.1:8787

and set WXBOT_PASSWORD_SYNC_URL=http(s)://<this host>/wxbot-sync and WXBOT_PASSWORD_SYNC_SECRET=<the same
secret> on the bot. It answers 200 only once NextChat runs with the new CODE, so wxbot shows followers
only codes NextChat accepts. It remembers the last applied version (STATE_FILE): an older version is
refused (409), so a captured request replayed later cannot bring old codes back; the same version is a
no-op (200) unless it only drops codes (wxbot's sync after a grace period ends). `docker restart` keeps
the old environment: the container must be recreated (RESTART_CMD). See docs/nextchat-sync.md.
"""
import hashlib
import hmac
import json
import os
import re
import subprocess
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CODE_RE = re.compile(r"^[A-Za-z0-9_.~@+=-]+$")
MAX_AGE = 300  # seconds a signed request stays valid


def write_atomically(path, text):
    with open(path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


def signature_ok(secret: bytes, ts: str, body: bytes, got: str, now: float) -> bool:
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return ts.isdigit() and abs(now - int(ts)) < MAX_AGE and hmac.compare_digest(expected, got)


def make_handler(secret: bytes, env_file: str, state_file: str, restart: str, health_url: str):
    def last_applied():
        try:
            with open(state_file) as fh:
                state = json.load(fh)
            return int(state["version"]), set(state["codes"])
        except FileNotFoundError:
            return 0, set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not signature_ok(secret, self.headers.get("X-Wxbot-Timestamp", ""), body,
                                self.headers.get("X-Wxbot-Signature", ""), time.time()):
                return self.answer(401, "bad signature")
            try:
                msg = json.loads(body)
                version, codes = int(msg["version"]), msg["codes"]
            except (ValueError, KeyError, TypeError):
                return self.answer(400, "bad json")
            if not codes or not all(isinstance(c, str) and CODE_RE.match(c) for c in codes):
                return self.answer(400, "bad codes")
            applied_version, applied_codes = last_applied()
            if version < applied_version:
                return self.answer(409, f"stale version {version}, already at {applied_version}")
            if version == applied_version and not set(codes) < applied_codes:
                return self.answer(200, "already applied")  # a retry or replay: nothing to do
            lines = []
            if os.path.exists(env_file):
                with open(env_file) as fh:
                    lines = [ln for ln in fh.read().splitlines() if not ln.startswith("CODE=")]
            write_atomically(env_file, "\n".join(lines + ["CODE=" + ",".join(codes)]) + "\n")
            if subprocess.run(restart, shell=True).returncode != 0:
                return self.answer(502, "restart failed")
            for _ in range(30):  # wait until NextChat answers again
                try:
                    if not health_url or urllib.request.urlopen(health_url, timeout=1).status < 500:
                        # Recorded only now: a failed restart is applied again when wxbot retries.
                        write_atomically(state_file, json.dumps({"version": version, "codes": codes}))
                        return self.answer(200, "ok")
                except OSError:
                    time.sleep(0.5)
            return self.answer(504, "nextchat did not come back")

        def answer(self, status, text):
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # never log codes
            pass

    return Handler


def make_server(host: str, port: int, secret: bytes, env_file: str = "nextchat.env",
                state_file: str = "nextchat_sync.json",
                restart: str = "docker compose up -d --force-recreate nextchat",
                health_url: str = "http://127.0.0.1:3000/") -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(secret, env_file, state_file, restart, health_url))


def main() -> None:
    env = os.environ
    server = make_server(env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8787")), env["SYNC_SECRET"].encode(),
                         env.get("ENV_FILE", "nextchat.env"), env.get("STATE_FILE", "nextchat_sync.json"),
                         env.get("RESTART_CMD", "docker compose up -d --force-recreate nextchat"),
                         env.get("HEALTH_URL", "http://127.0.0.1:3000/"))
    server.serve_forever()


if __name__ == "__main__":
    main()
