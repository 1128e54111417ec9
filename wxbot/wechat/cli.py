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
    click.echo(f"wxbot: {exc}" + (f"\n  {hint}" if hint and exc.reached else ""), err=True)
    raise SystemExit(1)


@click.group("menu")
def cli() -> None:
    """Push config/menu.yaml to WeChat, or show WeChat's current menu."""


@cli.command("push")
@click.option("--dry-run", is_flag=True, help="Validate and print the JSON without calling WeChat.")
def push(dry_run: bool) -> None:
    """Validate config/menu.yaml and create it as the account's menu."""
    obj = click.get_current_context().ensure_object(CliContext)
    services = obj.services
    try:
        menu = load_menu(menu_path(services.settings.config_dir))
    except MenuError as exc:
        click.echo(f"wxbot: {exc}", err=True)
        raise SystemExit(2) from None
    handled = obj.features.menu_keys
    for key in sorted(menu.click_keys() - handled):
        click.echo(f"warning: click key {key!r} has no handler; followers tapping it get the menu.unknown text",
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
    click.echo(f"menu pushed: {len(menu.button)} top-level, {len(menu.buttons())} clickable buttons")


@cli.command("show")
def show() -> None:
    """Print the menu WeChat currently serves (console- or API-created)."""
    obj = click.get_current_context().ensure_object(CliContext)
    services = obj.services
    with redis_errors_exit():
        try:
            data = services.wechat_api.get_menu()
        except WeChatAPIError as exc:
            _api_error(exc)
    if not data.get("is_menu_open", 1):
        click.echo("(the account has no menu open)")
    click.echo(json.dumps(data.get("selfmenu_info", data), ensure_ascii=False, indent=2))
