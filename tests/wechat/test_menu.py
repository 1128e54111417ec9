"""config/menu.yaml validation and ``wxbot menu push|show`` against a local fake of WeChat's API."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from wxbot.cli import CliContext, main
from wxbot.wechat.menu import MenuError, load_menu


def write_menu(config_dir, menu) -> None:
    (config_dir / "menu.yaml").write_text(menu if isinstance(menu, str) else yaml.safe_dump(menu, allow_unicode=True),
                                          encoding="utf-8")


def run(settings, services, *args):
    return CliRunner().invoke(main, ["menu", *args], obj=CliContext(settings, services))


def click(name="密码", key="PASSWORD"):
    return {"type": "click", "name": name, "key": key}


@pytest.mark.parametrize("menu, message", [
    ({"button": []}, "一级菜单只能有 1-3 个"),
    ({"button": [click(key=f"K{i}") for i in range(4)]}, "一级菜单只能有 1-3 个"),
    ({"button": [click(name="这个名字太长了啊")]}, "超过 16 字节"),
    ({"button": [{"type": "click", "name": "密码"}]}, "需要写 key"),
    ({"button": [{"type": "view", "name": "官网", "url": "ftp://x"}]}, "http(s) url"),
    ({"button": [{"type": "bogus", "name": "x", "key": "K"}]}, "button.0.type"),
    ({"button": [click(), click(name="又一个", key="PASSWORD")]}, "用了两次"),
    ({"button": [{"name": "更多", "sub_button": [click(key=f"K{i}") for i in range(6)]}]}, "sub_button 只能有 1-5 个"),
    ({"button": [{"name": "更多", "sub_button": [{"name": "深", "sub_button": [click()]}]}]}, "最多只有两级"),
    ({"button": [{"name": "更多", "type": "click", "key": "K", "sub_button": [click()]}]}, "只能写 name"),
    ({"button": [click()], "extra": 1}, "extra"),
    ("button: [unclosed", "不是有效的 YAML"),
])
def test_invalid_menus_are_refused_with_a_reason(tmp_path, menu, message):
    write_menu(tmp_path, menu)
    with pytest.raises(MenuError) as err:
        load_menu(tmp_path / "menu.yaml")
    assert message in str(err.value)


def test_missing_menu_file(tmp_path):
    with pytest.raises(MenuError, match="文件不存在"):
        load_menu(tmp_path / "menu.yaml")


def test_shipped_menu_has_the_password_button(config_dir):
    menu = load_menu(config_dir / "menu.yaml")
    assert menu.button[0].name == "密码" and menu.button[0].type == "click" and "PASSWORD" in menu.click_keys()
    body = menu.to_wechat()
    assert body["button"][0] == {"type": "click", "name": "密码", "key": "PASSWORD"}
    assert "sub_button" not in body["button"][0] and "url" not in json.dumps(body["button"][0])


def test_push_refreshes_the_token_once_on_40001_and_retries(settings, services, wechat_api, redis_client):
    issued = iter(["TOKEN-OLD", "TOKEN-NEW"])
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": next(issued), "expires_in": 7200}))

    def create(req):
        if req.query["access_token"] == ["TOKEN-OLD"]:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}  # errcode inside an HTTP 200
        return 200, {"errcode": 0, "errmsg": "ok"}

    wechat_api.on("/cgi-bin/menu/create", create)
    out = run(settings, services, "push")
    assert out.exit_code == 0, out.output
    assert "菜单已推送：3 个一级菜单" in out.output
    tokens = wechat_api.calls("/cgi-bin/stable_token")
    assert [t.json()["force_refresh"] for t in tokens] == [False, True]
    assert tokens[0].json()["appid"] == settings.wechat_app_id
    creates = wechat_api.calls("/cgi-bin/menu/create")
    assert [c.query["access_token"][0] for c in creates] == ["TOKEN-OLD", "TOKEN-NEW"]
    assert creates[-1].json() == load_menu(settings.config_dir / "menu.yaml").to_wechat()
    assert redis_client.get("wxbot:wechat:access_token") == "TOKEN-NEW"


def test_push_dry_run_calls_nothing(settings, services, wechat_api):
    out = run(settings, services, "push", "--dry-run")
    assert out.exit_code == 0 and json.loads(out.output)["button"][0]["key"] == "PASSWORD"
    assert not wechat_api.requests


def test_push_refuses_an_invalid_file_and_warns_about_unknown_keys(settings, services, config_dir, wechat_api):
    write_menu(config_dir, {"button": [click(), click(name="客服", key="NOBODY")]})
    out = run(settings, services, "push", "--dry-run")
    assert out.exit_code == 0 and "'NOBODY' 没有任何功能响应" in out.output and "'PASSWORD'" not in out.output
    write_menu(config_dir, {"button": [{"type": "click", "name": "密码"}]})
    out = run(settings, services, "push")
    assert out.exit_code == 2 and "需要写 key" in out.output and not wechat_api.requests


def test_push_on_an_unverified_account_explains(settings, services, wechat_api):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "T", "expires_in": 7200}))
    wechat_api.on("/cgi-bin/menu/create", lambda req: (200, {"errcode": 48001, "errmsg": "api unauthorized"}))
    out = run(settings, services, "push")
    assert out.exit_code == 1 and "微信拒绝了：48001 api unauthorized" in out.output and "微信认证" in out.output
    assert len(wechat_api.calls("/cgi-bin/menu/create")) == 1  # not a token error: no retry


def test_show_prints_what_wechat_serves(settings, services, wechat_api):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "T", "expires_in": 7200}))
    served = {"is_menu_open": 1, "selfmenu_info": {"button": [{"type": "click", "name": "密码", "key": "PASSWORD"}]}}
    wechat_api.on("/cgi-bin/get_current_selfmenu_info", lambda req: (200, served))
    out = run(settings, services, "show")
    assert out.exit_code == 0 and json.loads(out.output) == served["selfmenu_info"]
