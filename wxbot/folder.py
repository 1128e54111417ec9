"""``wxbot init``: a ready bot folder (``config/`` from the shipped defaults, ``.env`` with new secrets).

The shipped defaults are package data (``wxbot/data/config/``), so a non-editable install can create a
folder too; the repository's own ``config/`` is a link to them, so a checkout is a bot folder as well.
Nothing is overwritten: an existing folder only gets what it lacks (``--force`` replaces the config
files with the shipped ones, never ``.env``: its token is the one saved in the MP console).
"""
from __future__ import annotations

import os
import secrets
import shutil
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

ALPHANUM = string.ascii_letters + string.digits

ENV_HEADER = """\
# wxbot settings for this bot folder (read by every wxbot command; the real environment wins).
# Every variable is described in docs/configuration.md. Keep this file private (mode 600).
"""
ENV_OPTIONAL = """\
# From the MP console (mp.weixin.qq.com) > 设置与开发 > 基本配置:
# WECHAT_APP_ID=wx...
# WECHAT_APP_SECRET=...
# WECHAT_ENCODING_AES_KEY=...   (43 characters; set it for safe mode)
# REDIS_URL=redis://127.0.0.1:6379/0   (default: the embedded Redis in var/)
"""


def shipped_config() -> Path:
    """The directory of the shipped config files (inside the installed package)."""
    return Path(str(resources.files("wxbot.data") / "config"))


def random_token(length: int) -> str:
    return "".join(secrets.choice(ALPHANUM) for _ in range(length))


def generated_secrets() -> dict[str, str]:
    """WECHAT_TOKEN (32 letters and digits, the MP console's maximum), the admin API token and the
    secret key (48 each)."""
    return {"WECHAT_TOKEN": random_token(32), "WXBOT_ADMIN_TOKEN": random_token(48),
            "WXBOT_SECRET_KEY": random_token(48)}


@dataclass
class InitResult:
    folder: Path
    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    env_added: list[str] = field(default_factory=list)


def _env_names(path: Path) -> set[str]:
    from dotenv import dotenv_values

    return {k for k, v in dotenv_values(path).items() if v}


def init_folder(folder: Path, force: bool = False) -> InitResult:
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    res = InitResult(folder)
    config = folder / "config"
    config.mkdir(exist_ok=True)
    src = shipped_config()
    for item in sorted(src.iterdir()):
        if item.suffix not in (".yaml", ".txt"):
            continue
        dest = config / item.name
        if dest.exists() and (not force or dest.resolve() == item.resolve()):
            res.kept.append(item.name)
            continue
        shutil.copyfile(item, dest)
        res.copied.append(item.name)
    (folder / "var").mkdir(exist_ok=True)
    env = folder / ".env"
    present = _env_names(env) if env.exists() else set()
    missing = {k: v for k, v in generated_secrets().items() if k not in present}
    if missing:
        fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            if not present and env.stat().st_size == 0:
                fh.write(ENV_HEADER)
            for name, value in missing.items():
                fh.write(f"{name}={value}\n")
            if not present:
                fh.write(ENV_OPTIONAL)
        res.env_added = list(missing)
    os.chmod(env, 0o600)
    return res


def wxbot_command(argv0: str) -> str:
    """This wxbot as a person should type it: ``wxbot`` when that is the one PATH finds, else its full
    path (a virtualenv that is not activated, e.g. a bot folder made outside the checkout)."""
    exe = Path(argv0)
    if exe.name != "wxbot" or not exe.exists():
        return "wxbot"  # python -m wxbot, or a test runner: no better name to give
    found = shutil.which("wxbot")
    return "wxbot" if found and Path(found).resolve() == exe.resolve() else str(exe.resolve())


def next_steps(res: InitResult, cwd: Path, command: str = "wxbot") -> list[str]:
    """What to do next, as commands runnable from the bot folder (``command``: ``wxbot_command``)."""
    steps = [] if res.folder == cwd.resolve() else [f"cd {res.folder}   （或者设置 WXBOT_HOME={res.folder}）"]
    steps += [
        "编辑 .env：把其中的 WECHAT_TOKEN 填到公众号后台（基本配置 > 服务器配置 > Token），并补上 "
        "WECHAT_APP_ID、WECHAT_APP_SECRET（安全模式还要 WECHAT_ENCODING_AES_KEY）；只在本机试用时都不需要",
        f"{command} serve    （运行整个机器人：内置 Redis、网页应用和 worker；按 Ctrl-C 停止）",
        f"{command} chat     （在另一个终端里：以粉丝身份和它对话；然后运行 `{command} doctor`）",
    ]
    return [f"{n}. {s}" for n, s in enumerate(steps, 0 if len(steps) == 4 else 1)]
