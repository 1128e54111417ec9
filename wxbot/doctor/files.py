"""The doctor's configuration-file checks, through the loaders the bot itself uses."""
from __future__ import annotations

from pathlib import Path

from ..policy import deprecated_keys
from ..settings import ConfigError, Settings, yaml_load
from .report import FAIL, OK, WARN, Report

# bot.yaml is read once at start: its settings shape the routes, limits, schedules and the worker's
# tasks, which every process builds when it starts. The texts and the FAQ are re-read when they change.
RELOAD_NOTES = {
    "bot.yaml": "（启动时读取：改完要重启机器人——按 Ctrl-C 再运行 `wxbot serve`，或者重启 "
                "web 和 worker 进程）",
    "texts.yaml": "（改完几秒内重新读取，不用重启）",
    "faq.yaml": "（改完几秒内重新读取，不用重启）",
    "menu.yaml": "（用 `wxbot menu push` 推送到微信）",
}


def _strip_path(err: str, path: Path) -> str:
    for prefix in (f"{path}: ", f"{path.resolve()}: "):
        if err.startswith(prefix):
            return err[len(prefix):]
    return err


class FileChecks(Report):
    def check_config_files(self, settings: Settings, client) -> None:
        import redis

        from ..bot import build_features
        from ..defaults import Internals
        from ..policy import load_bot_config
        from ..services import Services
        from ..stores.dedupe import DedupeStore
        from ..stores.redis import REDIS_ERRORS, Breaker
        from ..texts import texts_file

        config_dir = Path(settings.config_dir)
        if not config_dir.is_dir():
            self.add(FAIL, "config", f"{config_dir} 不是一个文件夹",
                     "在机器人文件夹里运行，或把 WXBOT_HOME 设为机器人文件夹（WXBOT_CONFIG_DIR 只改 config/ 的位置）")
            return
        errors: list[str] = []
        bot = texts = None
        running = client  # the bot's Redis, None when it did not answer
        try:
            bot = load_bot_config(config_dir)
        except ConfigError as exc:
            errors.append(str(exc))
        try:
            texts = texts_file(config_dir)
        except ConfigError as exc:
            errors.append(str(exc))
        if bot is not None and texts is not None:
            if client is None:  # Redis is down: features can still check their files
                client = redis.Redis(unix_socket_path=str(config_dir / ".no-redis.sock"), socket_timeout=0.1)
            internals = Internals()
            services = Services(settings=settings, bot=bot, internals=internals, texts=texts, redis=client,
                                breaker=Breaker(1.0), dedupe=DedupeStore(client, 1, 1))
            try:
                build_features(services)  # loads faq.yaml and every feature's configuration
            except ConfigError as exc:
                errors.append(str(exc))
            except REDIS_ERRORS:
                pass  # reported by the Redis check
            except Exception as exc:  # noqa: BLE001
                errors.append(f"功能启动失败（{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}）")
        files = sorted(p for p in config_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        for path in files:
            mine = [e for e in errors if path.name in e]
            for err in mine:
                self.add(FAIL, f"config {path.name}", _strip_path(err, path), f"修复 {path}（运行中被改坏的文件，"
                         "机器人会继续使用上一个正确的版本）")
            if not mine:
                self.add(OK, f"config {path.name}", "有效" + RELOAD_NOTES.get(path.name, ""))
        for err in errors:
            if not any(p.name in err for p in files):
                self.add(FAIL, "config", err)
        if not any(p.name == "texts.yaml" for p in files) and not any("texts.yaml" in e for e in errors):
            self.add(FAIL, "config texts.yaml", f"{config_dir} 里没有这个文件", "恢复 config/texts.yaml")
        if bot is not None and running is not None:
            self.check_loaded_config(bot, running, settings)
        if bot is not None:
            for line in deprecated_keys(yaml_load(config_dir / "bot.yaml") if (config_dir / "bot.yaml").exists() else None):
                self.add(WARN, "config bot.yaml", line, "按这一行说的修改 config/bot.yaml")
        if bot is not None and not bot.password.site_url:
            self.add(WARN, "NextChat address", "password.site_url 为空：【密码】的回复里没有地址和"
                     "快捷链接", "在 config/bot.yaml 里把 password.site_url 设为公益版 NextChat 的 https:// 地址")

    def check_loaded_config(self, bot, client, settings: Settings) -> None:
        """Compare the bot.yaml on disk with what the running bot's processes loaded (published in
        Redis at their start): an edit applies only after a restart."""
        import redis

        from ..stores.loaded import LoadedConfig, changed_settings
        from ..texts import show_time
        from .report import shown_zone

        try:
            loaded = LoadedConfig(client).all()
        except redis.RedisError:
            return
        if not loaded:
            return
        on_disk = bot.fingerprint()
        stale = {role: changed_settings(rec["fingerprint"], on_disk) for role, rec in sorted(loaded.items())}
        stale = {role: names for role, names in stale.items() if names}
        if not stale:
            self.add(OK, "running bot.yaml", "正在运行的机器人（" + ", ".join(sorted(loaded)) + "）载入的就是这个版本")
            return
        names = sorted({n for ns in stale.values() for n in ns})
        when = "，".join(f"{role} 于 {show_time(loaded[role].get('at'), shown_zone(settings))} 载入" for role in stale)
        self.add(WARN, "running bot.yaml", f"机器人启动后文件又被改过（{when}）：要重启才能让 "
                 + ", ".join(names) + " 的改动生效（bot.yaml 只在启动时读取：路由、限额、定时计划和 "
                 "worker 的任务都是按它建好的）",
                 "重启：按 Ctrl-C 再运行 `wxbot serve`，或者重启 web 和 worker 进程")
