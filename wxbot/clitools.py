"""What every ``wxbot`` command shares: the lazily built context and the one-line error exits.

Settings, services and features are built on first use (``ctx.obj``), so ``--help`` needs no
configuration and tests can inject their own. Configuration errors print one line and exit 2; Redis
being unreachable exits 1.

Only the bot's own processes (``serve``, ``worker``; gunicorn builds its app itself) start the
embedded Redis: they set ``own_process``. Every admin and support command uses the running bot's
Redis, and says in one line that the bot is not running when it is not. Admin commands print their
output without log lines (WARNING and up only) unless ``wxbot -v``.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import click

from .logconfig import configure_logging
from .settings import ConfigError, Settings

if TYPE_CHECKING:
    from .bot import Features
    from .services import Services
    from .stores.redis import BotNotRunning

# The whole bot (features, services, redis-py) is imported by the commands that use it, when they run:
# ``wxbot --help`` and the commands' skeleton import only click and the settings.

# click's own words (help layout, usage errors, prompts), as the admins read them. click looks each up
# through gettext when it prints it; a phrase missing here stays click's English.
CLICK_WORDS = {
    "Usage:": "用法:",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "参数",
    "Show this message and exit.": "显示这段帮助并退出。",
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "运行 '{command} {option}' 查看帮助。",
    "Aborted!": "已取消。",
    "Missing command.": "缺少命令。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Invalid value: {message}": "值无效：{message}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不需要值。",
    "default: {default}": "默认：{default}",
    "required": "必填",
    "Repeat for confirmation": "再输入一次",
    "Error: The two entered values do not match.": "错误：两次输入的不一样。",
    "Error: invalid input": "错误：输入无效",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的数字（{number_type}）。",
    "{value} is not in the range {range}.": "{value} 不在 {range} 范围内。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹。",
    "file": "文件", "directory": "文件夹", "path": "路径",
    # ngettext: the singular stands for both forms
    "Got unexpected extra argument ({args})": "多了参数（{args}）",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不是 {choices} 之一。",
    "Did you mean {possibility}?": "你是不是想输入 {possibility}？",
    "(Did you mean one of: {possibilities}?)": "（你是不是想输入其中之一：{possibilities}？）",
}


def _click_word(message: str) -> str:
    return CLICK_WORDS.get(message, message)


def _click_words(singular: str, plural: str, n: int) -> str:
    return CLICK_WORDS.get(singular if n == 1 else plural, CLICK_WORDS.get(singular, singular if n == 1 else plural))


def speak_chinese() -> None:
    """Make click say its own words (usage, help headings, usage errors) in Chinese: it looks them up
    through the ``gettext``/``ngettext`` each of its modules imported, so those names are replaced."""
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.termui,
                   click.types):
        if hasattr(module, "_"):
            module._ = _click_word
        if hasattr(module, "ngettext"):
            module.ngettext = _click_words


def config_error_exit(exc: ConfigError) -> SystemExit:
    click.echo(f"wxbot: 配置错误：{exc}", err=True)
    return SystemExit(2)


@contextlib.contextmanager
def exit_on_config_error() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        raise config_error_exit(exc) from None


def settings_or_exit(environ=None) -> Settings:
    with exit_on_config_error():
        return Settings.from_env(environ)


@contextlib.contextmanager
def redis_errors_exit() -> Iterator[None]:
    from .stores.redis import REDIS_ERRORS, describe_error

    try:
        yield
    except REDIS_ERRORS as exc:
        click.echo(f"wxbot: 机器人的 Redis 没有应答（{describe_error(exc)}）：机器人在运行吗？"
                   "用 `wxbot serve` 启动；`wxbot doctor` 会检查 REDIS_URL", err=True)
        raise SystemExit(1) from None


def not_running_exit(exc: BotNotRunning) -> SystemExit:
    click.echo(f"wxbot: {exc}", err=True)
    return SystemExit(1)


class CliContext:
    """Holds settings, services and features for a CLI invocation, built on first use."""

    def __init__(self, settings: Settings | None = None, services: Services | None = None):
        self._settings = settings
        self._services = services
        self._features: Features | None = None
        self.verbose = False  # ``wxbot -v``: log lines on stderr for admin commands too
        self.own_process = False  # serve/worker: may start the embedded Redis, logs at WXBOT_LOG_LEVEL

    def log_level(self) -> str:
        return self.settings.log_level if (self.verbose or self.own_process) else "WARNING"

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_or_exit()
        return self._settings

    @property
    def services(self) -> Services:
        from .stores.redis import BotNotRunning

        try:
            return self._built_services()
        except BotNotRunning as exc:
            raise not_running_exit(exc) from None

    def services_if_running(self) -> Services | None:
        """The running bot's services, or None (nothing said) when the bot is not running: for
        commands that also work on the files alone."""
        from .stores.redis import BotNotRunning

        try:
            return self._built_services()
        except BotNotRunning:
            return None

    def _built_services(self) -> Services:
        if self._services is None:
            from .services import build_services

            configure_logging(self.log_level())
            with exit_on_config_error(), redis_errors_exit():
                self._services = build_services(self.settings, start_redis=self.own_process)
        return self._services

    @property
    def features(self) -> Features:
        if self._features is None:
            from .bot import build_features

            with exit_on_config_error():
                self._features = build_features(self.services)
        return self._features


    def routes_before_faq(self):
        """``text -> "password" | "tickets" | None``: the route the real router picks for a follower's
        text message, when it is a feature the FAQ must not answer (``wxbot faq eval``)."""
        from .app import compose_router
        from .router import Ctx
        from .wechat.protocol import Message

        router = compose_router(self.services, self.features)

        def pre(text: str) -> str | None:
            msg = Message("gh_eval", "oFaqEval", 1, "text", "1", content=text)
            name = router.resolve(msg, Ctx(self.services, msg.from_user)).name
            if name in ("password", "faq_password"):
                return "password"
            if name.startswith("tickets") or name == "faq_feature":
                return "tickets"
            return None

        return pre


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
