"""The custom menu in ``config/menu.yaml`` (WeChat's menu JSON, as YAML), validated before it is pushed.

Once the server URL is enabled in the MP console, the console's own menu and keyword replies stop
working, so the bot owns the menu: ``wxbot menu push`` creates it through WeChat's API (needs a
verified account; without one, followers type 密码 instead), ``wxbot menu show`` prints what WeChat
currently has. Validation follows WeChat's documented limits so mistakes surface here, not as an
errcode from WeChat.

The ``wxbot menu`` commands are in ``wechat/cli.py``; the features' answered click keys come from
``wxbot.bot.Features.menu_keys`` so ``push`` can warn about keys nobody answers.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

log = logging.getLogger(__name__)

KEY_TYPES = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
             "location_select"}
ButtonType = Literal["click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                     "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited",
                     "article_id", "article_view_limited"]

# errcodes of menu/create worth a sentence to the admin.
HINTS = {
    48001: "这个公众号没有自定义菜单接口的权限（订阅号需要微信认证）；粉丝仍可以直接发送“密码”。",
    40016: "一级菜单的个数不对（只能 1-3 个）。",
    40017: "子菜单的个数不对（每个一级菜单 1-5 个）。",
    40018: "有按钮名称太长。",
    40019: "有按钮的 key 太长。",
    40023: "有子菜单的类型不对。",
    40054: "有子菜单的网址不对。",
    40055: "有按钮的网址不对。",
    40164: "这台服务器的 IP 不在公众平台的 IP 白名单里（设置与开发 > 基本配置 > IP 白名单）。",
}


class MenuError(Exception):
    """The menu file is missing or breaks WeChat's rules; ``str()`` says where."""


def _bytes(s: str) -> int:
    return len(s.encode("utf-8"))


class Button(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ButtonType | None = None
    key: str | None = None
    url: str | None = None
    media_id: str | None = None
    article_id: str | None = None
    appid: str | None = None
    pagepath: str | None = None
    sub_button: list["Button"] | None = None

    @model_validator(mode="after")
    def _rules(self) -> "Button":
        if not self.name.strip():
            raise ValueError("按钮名称不能为空")
        if self.sub_button is not None:
            if self.type is not None or self.key or self.url:
                raise ValueError(f"{self.name}：有 sub_button 的按钮只能写 name")
            if not 1 <= len(self.sub_button) <= 5:
                raise ValueError(f"{self.name}：sub_button 只能有 1-5 个")
            return self
        if self.type is None:
            raise ValueError(f"{self.name}：需要写 type（或者 sub_button）")
        if self.type in KEY_TYPES and not self.key:
            raise ValueError(f"{self.name}：type {self.type} 需要写 key")
        if self.key is not None and _bytes(self.key) > 128:
            raise ValueError(f"{self.name}：key 超过 128 字节")
        if self.type in ("view", "miniprogram"):
            if not self.url or not self.url.startswith(("http://", "https://")) or _bytes(self.url) > 1024:
                raise ValueError(f"{self.name}：type {self.type} 需要一个不超过 1024 字节的 http(s) url")
        if self.type == "miniprogram" and not (self.appid and self.pagepath):
            raise ValueError(f"{self.name}：miniprogram 需要写 appid 和 pagepath")
        if self.type in ("media_id", "view_limited") and not self.media_id:
            raise ValueError(f"{self.name}：type {self.type} 需要写 media_id")
        if self.type in ("article_id", "article_view_limited") and not self.article_id:
            raise ValueError(f"{self.name}：type {self.type} 需要写 article_id")
        return self


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    button: list[Button]

    @model_validator(mode="after")
    def _limits(self) -> "Menu":
        if not 1 <= len(self.button) <= 3:
            raise ValueError("一级菜单只能有 1-3 个")
        seen: set[str] = set()
        for top in self.button:
            if _bytes(top.name) > 16:
                raise ValueError(f"一级菜单名称 {top.name!r} 超过 16 字节（4 个汉字）")
            for sub in top.sub_button or []:
                if sub.sub_button is not None:
                    raise ValueError(f"{sub.name}：菜单最多只有两级")
                if _bytes(sub.name) > 60:
                    raise ValueError(f"子菜单名称 {sub.name!r} 超过 60 字节")
        for b in self.buttons():
            if b.key:
                if b.key in seen:
                    raise ValueError(f"key {b.key!r} 用了两次")
                seen.add(b.key)
        return self

    def buttons(self) -> list[Button]:
        out = []
        for top in self.button:
            out.extend(top.sub_button if top.sub_button is not None else [top])
        return out

    def click_keys(self) -> set[str]:
        return {b.key for b in self.buttons() if b.type == "click" and b.key}

    def to_wechat(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def menu_path(config_dir: Path) -> Path:
    return Path(config_dir) / "menu.yaml"


def load_menu(path: Path) -> Menu:
    try:
        with open(path, "rb") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise MenuError(f"{path}：文件不存在") from None
    except yaml.YAMLError as exc:
        raise MenuError(f"{path}：不是有效的 YAML（{' '.join(str(exc).split())}）") from None
    try:
        return Menu.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise MenuError(f"{path}: {where + ': ' if where else ''}{msg}") from None
