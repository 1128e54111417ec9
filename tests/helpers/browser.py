"""A real headless Chromium (Debian's chromium + chromium-driver) through Selenium, a real wxbot HTTP
server in a thread, and the plain helpers of the console's browser tests (waits, selectors, signing in).
The fixtures built on them are in tests/console/conftest.py."""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from werkzeug.serving import make_server

from helpers.env import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = ROOT / "tests" / "output"
PHONE = (375, 812)


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


def chromium(width: int = PHONE[0], height: int = PHONE[1]):
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
    emulate_phone(driver, width, height)
    driver._wxbot_profile = profile  # removed by quit()
    return driver


def emulate_phone(driver, width: int = PHONE[0], height: int = PHONE[1]) -> None:
    """Headless Chromium keeps windows at least 500 px wide: emulate the phone's viewport exactly (for the
    current tab; a new tab needs it again)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})


def alive(driver) -> bool:
    """Whether the driver still answers (a test may have crashed its browser)."""
    try:
        driver.window_handles  # noqa: B018 - a round trip to chromedriver
    except Exception:  # noqa: BLE001 - any failure means: start a new one
        return False
    return True


def fresh_tab(driver) -> None:
    """Make the shared browser a new one for the next test: one new tab at the phone's size, every other
    tab closed, no cookies, no cache, no site storage left from an earlier test."""
    old = driver.window_handles
    driver.switch_to.new_window("tab")
    for handle in old:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    emulate_phone(driver)


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


# -- waiting and finding -------------------------------------------------------------------------------

def wait(driver, condition, timeout: float = 15.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def until(check: Callable, timeout: float = 15.0):
    """Poll ``check`` (Redis, a local server) until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        threading.Event().wait(0.02)
    raise AssertionError("condition not met in time")


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


# -- the console's pages ---------------------------------------------------------------------------------

def sign_in(driver, base: str, name: str, password: str) -> None:
    driver.get(base + "/console/login")
    css(driver, "#name").send_keys(name)
    css(driver, "#password").send_keys(password)
    css(driver, "#signin").click()
    wait(driver, lambda d: "/console/login" not in d.current_url)


def sign_out(driver) -> None:
    css(driver, "#logout").click()
    wait(driver, lambda d: d.current_url.endswith("/console/login"))


def open_page(driver, url: str, expect: str) -> None:
    driver.get(url)
    wait(driver, lambda d: expect in d.page_source)
    # readable at 375 px: nothing wider than the phone's screen
    assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0], url


def full_page(driver, path: Path) -> None:
    """A screenshot of the whole page at the phone's width (then back to the phone's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    emulate_phone(driver, PHONE[0], height)
    driver.save_screenshot(str(path))
    emulate_phone(driver)


SHOT = png()  # what the console tests' picture host serves (160 x 90)
