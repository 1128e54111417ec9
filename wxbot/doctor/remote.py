"""The doctor's checks of the services wxbot calls: WeChat's access token, the AI model and the S3 bucket."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..settings import ConfigError, Settings
from .report import CONSOLE, FAIL, OK, WARN, Report


class RemoteChecks(Report):
    def check_screenshots(self, settings: Settings) -> None:
        """Screenshots stay in Redis, or go to the S3 bucket: then the client is installed and the bucket
        answers (never printing a key)."""
        from ..features.tickets import INSTALL_HINT, S3Shots, minio_missing

        tune = settings.internals().tickets
        days = f"{tune.screenshot_retention / 86400:g} days"
        names = ("WXBOT_S3_ENDPOINT", "WXBOT_S3_BUCKET", "WXBOT_S3_ACCESS_KEY", "WXBOT_S3_SECRET_KEY")
        given = [n for n in names if self.get(n)]
        if not given:
            self.add(OK, "screenshots", f"kept in Redis for {days} (WXBOT_S3_* not set)")
            return
        missing = [n for n in names if n not in self.valid]
        if missing:
            self.add(FAIL, "screenshots", "the S3 bucket is half configured: " + ", ".join(missing)
                     + " missing or invalid", "set all four WXBOT_S3_* variables, or none to keep screenshots in Redis")
            return
        if minio_missing():
            self.add(FAIL, "screenshots", "WXBOT_S3_* are set but the S3 client (minio) is not installed: "
                     "the web and worker processes will not start", f"{INSTALL_HINT}, then restart")
            return
        shots = S3Shots(None, settings, tune.screenshot_retention, self.timeout, tune.screenshot_max_bytes)
        problem = shots.probe()
        if problem:
            self.add(FAIL, "screenshots", f"S3: {problem}",
                     "check WXBOT_S3_ENDPOINT, WXBOT_S3_BUCKET (create the bucket) and the keys")
        else:
            self.add(OK, "screenshots", f"in the S3 bucket {settings.s3_bucket} at {shots.where}, kept {days}")


    def check_ai(self, settings: Settings) -> None:
        """AI answers: with WXBOT_AI_API_KEY set, one tiny call checks the key and the model."""
        import httpx

        from ..defaults import Ai
        from ..features.ai import ModelClient, ModelError
        from ..policy import load_bot_config

        name = "AI answers"
        if not settings.ai_api_key:
            self.add(OK, name, "off (WXBOT_AI_API_KEY not set)")
            return
        try:
            model = load_bot_config(settings.config_dir).ai.model
        except ConfigError:
            self.add(FAIL, name, "not checked: bot.yaml is broken", "fix the bot.yaml line above")
            return
        host = urlsplit(settings.ai_base_url).hostname
        http = self.http or httpx.Client(follow_redirects=False)
        try:
            ModelClient(http, settings.ai_base_url, settings.ai_api_key).complete(
                [{"role": "user", "content": "ping"}], model, 0, 5, Ai().doctor_timeout)
        except ModelError as exc:
            fixes = {"http_4xx": "check WXBOT_AI_API_KEY (401) and bot.yaml ai.model / WXBOT_AI_BASE_URL (404)",
                     "http_429": "the key is rate limited or out of credit",
                     "timeout": f"check this server's network to {host}",
                     "transport": f"check this server's network to {host} and WXBOT_AI_BASE_URL"}
            self.add(FAIL, name, f"model {model} at {host}: {exc}", fixes.get(exc.kind, "check the AI service"))
            return
        finally:
            if self.http is None:
                http.close()
        self.add(OK, name, f"model {model} at {host} answered")

    def check_access_token(self, settings: Settings) -> None:
        import httpx

        name = "access token"
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            if self.get("WECHAT_APP_SECRET") and not settings.wechat_app_id:
                self.add(FAIL, name, "not checked: WECHAT_APP_ID is missing or wrong", "fix WECHAT_APP_ID above")
            return
        base = settings.wechat_api_base_url.rstrip("/")
        http = self.http or httpx.Client(timeout=self.timeout * 2, follow_redirects=False)
        try:
            resp = http.post(base + "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": settings.wechat_app_id,
                "secret": settings.wechat_app_secret, "force_refresh": False})
            data = resp.json()
        except httpx.HTTPError as exc:
            self.add(FAIL, name, f"cannot reach {urlsplit(base).hostname} ({exc.__class__.__name__})",
                     "check this server's outbound network (DNS, firewall, proxy) and WECHAT_API_BASE_URL")
            return
        except ValueError:
            self.add(FAIL, name, f"{urlsplit(base).hostname} answered HTTP {resp.status_code} without JSON",
                     "check WECHAT_API_BASE_URL (leave it unset for WeChat itself)")
            return
        finally:
            if self.http is None:
                http.close()
        errcode = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
        if errcode == 0 and isinstance(data, dict) and data.get("access_token"):
            self.add(OK, name, f"obtained (valid {int(data.get('expires_in') or 7200)} s)")
            return
        errmsg = " ".join(str(data.get("errmsg", "")).split())[:200] if isinstance(data, dict) else ""
        status, detail, fix = _token_error(errcode, errmsg)
        self.add(status, name, detail, fix)


def _token_error(errcode: int, errmsg: str) -> tuple[str, str, str]:
    if errcode == 40164:
        ip = re.search(r"invalid ip ([0-9a-fA-F:.]+)", errmsg)
        shown = ip.group(1) if ip else "this server's IP"
        return FAIL, f"WeChat refused: {shown} is not in the IP allow-list (errcode 40164)", \
            f"add {shown} to {CONSOLE} > IP白名单, then run the doctor again"
    if errcode in (40125, 40001):
        return FAIL, f"WeChat refused the AppSecret (errcode {errcode})", \
            f"copy the AppSecret again (or reset it) in {CONSOLE} > 开发者密码(AppSecret)"
    if errcode == 40013:
        return FAIL, "WeChat does not know this AppID (errcode 40013)", f"copy the AppID from {CONSOLE}"
    if errcode == 40243:
        return FAIL, "the AppSecret is frozen (errcode 40243)", f"unfreeze or reset it in {CONSOLE}"
    if errcode in (89503, 89501, 89506, 89507):
        return FAIL, f"an administrator must confirm calls from this IP (errcode {errcode})", \
            "confirm the request sent to the account administrator's WeChat, or add the IP to the allow-list"
    if errcode in (45009, 45011):
        return WARN, f"token quota or frequency limit reached (errcode {errcode})", "try again later"
    if errcode == -1:
        return WARN, "WeChat is busy (errcode -1)", "run the doctor again in a minute"
    return FAIL, f"WeChat answered errcode {errcode}: {errmsg or 'no access_token'}", \
        "look the code up in WeChat's global return codes (全局返回码)"

