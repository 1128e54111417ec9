"""A real headless Chromium (Debian's chromium + chromium-driver) through Selenium, and a real wxbot
HTTP server in a thread, for the console's browser tests."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from helpers.env import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = ROOT / "tests" / "output"


class LiveServer:
    """The app on 127.0.0.1 (werkzeug's threaded server), as gunicorn would serve it."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def chromium(width: int = 375, height: int = 812):
    """A fresh headless Chromium the size of a phone (a new profile each time)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="wxbot-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    # Headless Chromium keeps windows at least 500 px wide: emulate the phone's viewport exactly.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    driver._wxbot_profile = profile  # removed by quit()
    return driver


def quit_browser(driver) -> None:
    driver.quit()
    shutil.rmtree(driver._wxbot_profile, ignore_errors=True)


def output_dir() -> Path:
    """tests/output/console-<time>/: the screenshots of one run (git-ignored)."""
    path = OUTPUT / time.strftime("console-%Y%m%d-%H%M%S")
    path.mkdir(parents=True, exist_ok=True)
    return path


def png(width: int = 160, height: int = 90) -> bytes:
    """A small, valid PNG (a browser must be able to draw it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
