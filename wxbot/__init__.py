"""wxbot: the WeChat Official Account bot of 产品试金石.

``create_app()`` is the WSGI factory (``gunicorn "wxbot:create_app()"``); all wiring happens here.
"""
from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from .settings import ConfigError, Settings

__all__ = ["create_app", "ConfigError", "Settings"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services=None) -> Flask:
    """Build the Flask app. With no arguments, settings come from the environment and a bad value
    stops the process with one line naming the variable (no traceback)."""
    if settings is None:
        from .cli import settings_or_exit
        from .logconfig import configure_logging

        settings = settings_or_exit()
        configure_logging(settings.log_level)
    if services is None:
        from .services import build_services
        from .cli import exit_on_config_error

        with exit_on_config_error():
            services = build_services(settings)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=None)
    register_services(app, services)
    register_blueprints(app, services)
    register_error_handlers(app)
    register_fast_path(app, services)
    return app


def register_fast_path(app: Flask, services) -> None:
    """Serve ``POST /wechat`` without Flask's per-request machinery (see ``webhook.FastPath``)."""
    from .webhook import FastPath

    app.wsgi_app = FastPath(app.wsgi_app, services)


def register_services(app: Flask, services) -> None:
    from .protocol import Envelope

    settings = services.settings
    if settings.safe_mode and "envelope" not in services.extensions:
        services.extensions["envelope"] = Envelope(
            settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id
        )
    app.extensions["wxbot"] = services


def register_blueprints(app: Flask, services) -> None:
    from . import health, webhook

    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    for bp in services.blueprints:
        app.register_blueprint(bp)


def register_error_handlers(app: Flask) -> None:
    """Plain-text answers for every error: WeChat shows followers an error for any HTML page or 5xx."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return Response(f"{exc.code} {exc.name}\n", status=exc.code, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.error("unhandled error: %s", exc.__class__.__name__, exc_info=exc)
        # A 200 "success" keeps WeChat from showing followers an error page and from retrying.
        return Response("success", status=200, mimetype="text/plain")
