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
        days = f"{tune.screenshot_retention / 86400:g} 天"
        names = ("WXBOT_S3_ENDPOINT", "WXBOT_S3_BUCKET", "WXBOT_S3_ACCESS_KEY", "WXBOT_S3_SECRET_KEY")
        given = [n for n in names if self.get(n)]
        if not given:
            self.add(OK, "screenshots", f"保存在 Redis 里，保留 {days}（没有设置 WXBOT_S3_*）")
            return
        missing = [n for n in names if n not in self.valid]
        if missing:
            self.add(FAIL, "screenshots", "S3 存储桶只配置了一半：" + ", ".join(missing)
                     + " 缺失或无效", "四个 WXBOT_S3_* 变量都设置；或者都不设置，把截图保存在 Redis 里")
            return
        if minio_missing():
            self.add(FAIL, "screenshots", "设置了 WXBOT_S3_*，但没有安装 S3 客户端（minio）："
                     "web 和 worker 进程无法启动", f"{INSTALL_HINT}，然后重启")
            return
        shots = S3Shots(None, settings, tune.screenshot_retention, self.timeout, tune.screenshot_max_bytes)
        problem = shots.probe()
        if problem:
            self.add(FAIL, "screenshots", f"S3：{problem}",
                     "检查 WXBOT_S3_ENDPOINT、WXBOT_S3_BUCKET（先建好存储桶）和密钥")
        else:
            self.add(OK, "screenshots", f"保存在 {shots.where} 的 S3 存储桶 {settings.s3_bucket} 里，保留 {days}")


    def check_ai(self, settings: Settings) -> None:
        """AI answers: with WXBOT_AI_API_KEY set, one tiny call checks the key and the model."""
        import httpx

        from ..defaults import Ai
        from ..features.ai import ModelClient, ModelError
        from ..policy import load_bot_config

        name = "AI answers"
        if not settings.ai_api_key:
            self.add(OK, name, "关闭（没有设置 WXBOT_AI_API_KEY）")
            return
        try:
            model = load_bot_config(settings.config_dir).ai.model
        except ConfigError:
            self.add(FAIL, name, "没有检查：bot.yaml 有错误", "先修复上面 bot.yaml 那一行")
            return
        host = urlsplit(settings.ai_base_url).hostname
        http = self.http or httpx.Client(follow_redirects=False)
        try:
            ModelClient(http, settings.ai_base_url, settings.ai_api_key).complete(
                [{"role": "user", "content": "ping"}], model, 0, 5, Ai().doctor_timeout)
        except ModelError as exc:
            fixes = {"http_4xx": "检查 WXBOT_AI_API_KEY（401）和 bot.yaml 的 ai.model / WXBOT_AI_BASE_URL（404）",
                     "http_429": "这个 key 被限流了，或者余额不足",
                     "timeout": f"检查这台服务器到 {host} 的网络",
                     "transport": f"检查这台服务器到 {host} 的网络，以及 WXBOT_AI_BASE_URL"}
            self.add(FAIL, name, f"{host} 的模型 {model}：{exc}", fixes.get(exc.kind, "检查 AI 服务"))
            return
        finally:
            if self.http is None:
                http.close()
        self.add(OK, name, f"{host} 的模型 {model} 有应答")

    def check_access_token(self, settings: Settings) -> None:
        import httpx

        name = "access token"
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            if self.get("WECHAT_APP_SECRET") and not settings.wechat_app_id:
                self.add(FAIL, name, "没有检查：WECHAT_APP_ID 缺失或有误", "先修正上面的 WECHAT_APP_ID")
            return
        base = settings.wechat_api_base_url.rstrip("/")
        http = self.http or httpx.Client(timeout=self.timeout * 2, follow_redirects=False)
        try:
            resp = http.post(base + "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": settings.wechat_app_id,
                "secret": settings.wechat_app_secret, "force_refresh": False})
            data = resp.json()
        except httpx.HTTPError as exc:
            self.add(FAIL, name, f"连不上 {urlsplit(base).hostname}（{exc.__class__.__name__}）",
                     "检查这台服务器的对外网络（DNS、防火墙、代理）和 WECHAT_API_BASE_URL")
            return
        except ValueError:
            self.add(FAIL, name, f"{urlsplit(base).hostname} 返回了 HTTP {resp.status_code}，但不是 JSON",
                     "检查 WECHAT_API_BASE_URL（直接访问微信时不要设置它）")
            return
        finally:
            if self.http is None:
                http.close()
        errcode = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
        if errcode == 0 and isinstance(data, dict) and data.get("access_token"):
            self.add(OK, name, f"已获取（有效期 {int(data.get('expires_in') or 7200)} 秒）")
            return
        errmsg = " ".join(str(data.get("errmsg", "")).split())[:200] if isinstance(data, dict) else ""
        status, detail, fix = _token_error(errcode, errmsg)
        self.add(status, name, detail, fix)


def _token_error(errcode: int, errmsg: str) -> tuple[str, str, str]:
    if errcode == 40164:
        ip = re.search(r"invalid ip ([0-9a-fA-F:.]+)", errmsg)
        shown = ip.group(1) if ip else "这台服务器的 IP"
        return FAIL, f"微信拒绝了：{shown} 不在 IP 白名单里（errcode 40164）", \
            f"把 {shown} 加到 {CONSOLE} > IP白名单，然后再运行一次 doctor"
    if errcode in (40125, 40001):
        return FAIL, f"微信不接受这个 AppSecret（errcode {errcode}）", \
            f"在 {CONSOLE} > 开发者密码(AppSecret) 重新复制（或重置）AppSecret"
    if errcode == 40013:
        return FAIL, "微信不认识这个 AppID（errcode 40013）", f"从 {CONSOLE} 复制 AppID"
    if errcode == 40243:
        return FAIL, "AppSecret 已被冻结（errcode 40243）", f"在 {CONSOLE} 解冻或重置它"
    if errcode in (89503, 89501, 89506, 89507):
        return FAIL, f"来自这个 IP 的调用需要公众号管理员确认（errcode {errcode}）", \
            "在公众号管理员的微信里确认这个请求，或者把这个 IP 加到白名单"
    if errcode in (45009, 45011):
        return WARN, f"access token 的调用次数或频率达到上限（errcode {errcode}）", "稍后再试"
    if errcode == -1:
        return WARN, "微信系统繁忙（errcode -1）", "过一分钟再运行一次 doctor"
    return FAIL, f"微信返回 errcode {errcode}：{errmsg or '没有 access_token'}", \
        "在微信的全局返回码说明里查这个错误码"

