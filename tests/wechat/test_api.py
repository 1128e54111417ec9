"""The shared access token against a local fake of WeChat's API: one cached token for every process,
refreshed under a Redis lock, refreshed once and retried on token errors, errcodes inside HTTP 200."""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time

import httpx
import pytest

from wxbot import defaults
from wxbot.wechat.api import TOKEN_KEY, WeChatAPI, WeChatAPIError


def make_api(settings, redis_client, **cfg) -> WeChatAPI:
    """One per simulated process: its own HTTP client, the shared Redis."""
    http = httpx.Client(timeout=5)
    return WeChatAPI(settings, redis_client, http, defaults.WeChatAPI(**cfg))


@pytest.fixture
def apis(settings, redis_client):
    made = []

    def factory(**cfg):
        api = make_api(settings, redis_client, **cfg)
        made.append(api)
        return api

    yield factory
    for api in made:
        api.http.close()


def issue_tokens(wechat_api, delay: float = 0.0, expires_in: int = 7200):
    counter = iter(range(1, 1000))
    lock = threading.Lock()

    def stable_token(req):
        time.sleep(delay)
        with lock:
            n = next(counter)
        return 200, {"access_token": f"TOKEN-{n}", "expires_in": expires_in}

    wechat_api.on("/cgi-bin/stable_token", stable_token)


def test_token_is_cached_in_redis_and_shared(apis, wechat_api, redis_client):
    issue_tokens(wechat_api)
    first, second = apis(), apis()
    assert first.access_token() == "TOKEN-1"
    assert second.access_token() == "TOKEN-1"
    assert len(wechat_api.calls("/cgi-bin/stable_token")) == 1
    assert 6800 < redis_client.ttl(TOKEN_KEY) <= 6900  # refreshed 300 s before WeChat's expiry


def test_concurrent_refresh_happens_once_under_the_lock(apis, wechat_api):
    issue_tokens(wechat_api, delay=0.2)
    processes = [apis() for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda api: api.access_token(), processes))
    assert tokens == ["TOKEN-1"] * 8
    assert len(wechat_api.calls("/cgi-bin/stable_token")) == 1


def test_token_close_to_expiry_is_never_cached_beyond_it(apis, wechat_api, redis_client):
    issue_tokens(wechat_api, expires_in=100)
    apis().access_token()
    assert 0 < redis_client.ttl(TOKEN_KEY) <= 50


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
def test_token_error_refreshes_once_and_retries(apis, wechat_api, errcode):
    issue_tokens(wechat_api)
    wechat_api.on("/cgi-bin/menu/create", lambda req: (
        (200, {"errcode": errcode, "errmsg": "token"}) if req.query["access_token"] == ["TOKEN-1"]
        else (200, {"errcode": 0, "errmsg": "ok"})))
    assert apis().create_menu({"button": []}) == {"errcode": 0, "errmsg": "ok"}
    assert [r.json()["force_refresh"] for r in wechat_api.calls("/cgi-bin/stable_token")] == [False, True]


def test_persistent_token_error_is_raised_after_one_retry(apis, wechat_api):
    issue_tokens(wechat_api)
    wechat_api.on("/cgi-bin/menu/create", lambda req: (200, {"errcode": 40001, "errmsg": "invalid credential"}))
    with pytest.raises(WeChatAPIError) as err:
        apis().create_menu({"button": []})
    assert err.value.errcode == 40001
    assert len(wechat_api.calls("/cgi-bin/menu/create")) == 2


def test_a_rejected_token_already_replaced_elsewhere_is_not_refreshed_again(apis, wechat_api, redis_client):
    issue_tokens(wechat_api)
    one, two = apis(), apis()
    rejected = one.access_token()
    assert one.access_token(force_refresh=True, rejected=rejected) == "TOKEN-2"  # process one refreshed
    assert two.access_token(force_refresh=True, rejected=rejected) == "TOKEN-2"  # process two reuses it
    assert len(wechat_api.calls("/cgi-bin/stable_token")) == 2
    assert two.access_token(force_refresh=True) == "TOKEN-3"  # an explicit force always fetches


@pytest.mark.parametrize("answer, errcode", [
    ((200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}), 45009),
    ((200, {"errcode": "40013", "errmsg": "invalid appid"}), 40013),
    ((500, "oops"), -1),
    ((200, "<html>not json</html>"), -1),
    ((200, [1, 2, 3]), -1),
])
def test_errors_inside_http_200_and_bad_answers_raise(apis, wechat_api, answer, errcode):
    issue_tokens(wechat_api)
    wechat_api.on("/cgi-bin/get_current_selfmenu_info", lambda req: answer)
    with pytest.raises(WeChatAPIError) as err:
        apis().get_menu()
    assert err.value.errcode == errcode


def test_stable_token_errcode_is_an_error(apis, wechat_api, redis_client):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"errcode": 40125, "errmsg": "invalid appsecret"}))
    with pytest.raises(WeChatAPIError) as err:
        apis().access_token()
    assert err.value.errcode == 40125 and redis_client.get(TOKEN_KEY) is None


def test_unconfigured_account_says_what_is_missing(settings, redis_client):
    api = make_api(settings.replace(wechat_app_secret=None), redis_client)
    try:
        with pytest.raises(WeChatAPIError, match="WECHAT_APP_SECRET"):
            api.access_token()
    finally:
        api.http.close()


def test_tokens_and_secrets_never_reach_logs(apis, wechat_api, settings, caplog):
    caplog.set_level(logging.DEBUG)
    issue_tokens(wechat_api)
    wechat_api.on("/cgi-bin/menu/create", lambda req: (
        (200, {"errcode": 40001, "errmsg": "x"}) if req.query["access_token"] == ["TOKEN-1"] else (200, {"errcode": 0})))
    apis().create_menu({"button": []})
    assert "HTTP Request" in caplog.text and "refreshing once" in caplog.text
    for secret in ["TOKEN-1", "TOKEN-2", settings.wechat_app_secret]:
        assert secret not in caplog.text


def test_download_refreshes_the_token_once_on_40001(services, wechat_api, redis_client):
    tokens = iter(["TOKEN_OLD", "TOKEN_NEW"])
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": next(tokens), "expires_in": 7200}))

    def media(req):
        if req.query["access_token"] == ["TOKEN_OLD"]:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        return 200, b"\x89PNG\r\n\x1a\nimage", {"Content-Type": "image/png"}

    wechat_api.on("/cgi-bin/media/get", media)
    data, ctype = services.wechat_api.download("/cgi-bin/media/get", {"media_id": "m1"}, 1 << 20, 5)
    assert data.startswith(b"\x89PNG") and ctype == "image/png"
    assert [r.query["access_token"] for r in wechat_api.calls("/cgi-bin/media/get")] == [["TOKEN_OLD"], ["TOKEN_NEW"]]
