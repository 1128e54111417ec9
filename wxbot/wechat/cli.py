"""``wxbot menu push|show``: the account's custom menu (``config/menu.yaml``)."""
from __future__ import annotations

import json
import logging

import click

from ..clitools import CliContext, redis_errors_exit
from .api import WeChatAPIError
from .menu import HINTS, MenuError, load_menu, menu_path

log = logging.getLogger(__name__)


def _api_error(exc) -> None:
    hint = HINTS.get(exc.errcode)
    # str(exc) is for the logs; an admin reads it in Chinese
    said = (f"微信拒绝了：{exc.errcode} {exc.errmsg}".rstrip() if exc.reached and exc.errcode != -1
            else f"微信接口：{exc.errmsg}")
    click.echo(f"wxbot: {said}" + (f"\n  {hint}" if hint and exc.reached else ""), err=True)
    raise SystemExit(1)


@click.group("menu")
def cli() -> None:
    """把 config/menu.yaml 推送到微信，或查看微信现在的菜单。"""


@cli.command("push")
@click.option("--dry-run", is_flag=True, help="只检查并打印 JSON，不调用微信接口。")
def push(dry_run: bool) -> None:
    """检查 config/menu.yaml，并把它创建为公众号的菜单。"""
    obj = click.get_current_context().ensure_object(CliContext)
    services = obj.services
    try:
        menu = load_menu(menu_path(services.settings.config_dir))
    except MenuError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(2) from None
    handled = obj.features.menu_keys
    for key in sorted(menu.click_keys() - handled):
        click.echo(f"警告：点击按钮的 key {key!r} 没有任何功能响应；粉丝点它会收到 menu.unknown 文字",
                   err=True)
    body = menu.to_wechat()
    if dry_run:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    with redis_errors_exit():
        try:
            services.wechat_api.create_menu(body)
        except WeChatAPIError as exc:
            _api_error(exc)
    log.info("menu pushed buttons=%d", len(menu.buttons()))
    click.echo(f"菜单已推送：{len(menu.button)} 个一级菜单，{len(menu.buttons())} 个可点击的按钮")


@cli.command("show")
def show() -> None:
    """打印微信现在实际提供的菜单（后台或接口创建的）。"""
    obj = click.get_current_context().ensure_object(CliContext)
    services = obj.services
    with redis_errors_exit():
        try:
            data = services.wechat_api.get_menu()
        except WeChatAPIError as exc:
            _api_error(exc)
    if not data.get("is_menu_open", 1):
        click.echo("（公众号没有开启菜单）")
    click.echo(json.dumps(data.get("selfmenu_info", data), ensure_ascii=False, indent=2))
