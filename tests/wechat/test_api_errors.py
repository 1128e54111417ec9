"""WeChat API errors say what happened: WeChat not reached vs WeChat refused (no class names)."""
from __future__ import annotations

import httpx
import pytest

from helpers.redis import free_port
from wxbot.wechat.api import WeChatAPIError, WeChatUnreachable


def test_unreachable_names_the_host_and_the_reason(services, redis_client):
    port = free_port()  # nothing listens there
    api = services.wechat_api.__class__(services.settings.replace(wechat_api_base_url=f"http://127.0.0.1:{port}"),
                                        redis_client, httpx.Client(timeout=1), services.internals.wechat_api)
    with pytest.raises(WeChatUnreachable) as err:
        api.send_text("o_someone", "hi")
    assert str(err.value) == f"could not reach 127.0.0.1:{port} (connection refused on /cgi-bin/stable_token)"
    assert not err.value.reached
    api.http.close()


def test_refusal_names_the_errcode(services, wechat_api):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "T", "expires_in": 7200}))
    wechat_api.on("/cgi-bin/message/custom/send", lambda req: (200, {"errcode": 48001, "errmsg": "api unauthorized"}))
    with pytest.raises(WeChatAPIError) as err:
        services.wechat_api.send_text("o_someone", "hi")
    assert str(err.value) == "WeChat refused: 48001 api unauthorized" and err.value.reached
    assert "Error" not in str(err.value)
