"""The app factory: all wiring happens here.

``create_app()`` is the WSGI factory (``gunicorn "wxbot:create_app()"``); all wiring happens here,
in small steps: settings -> services -> features -> the ordered routes -> the Flask app for people
(health, metrics, admin API) with the ``/wechat`` endpoint mounted beside it.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from . import console, health
from .bot import Bot, Features, build_features
from .defaults import Internals
from .features.basics import Basics
from .features.password import api as password_api
from .router import Router
from .services import Services, build_services
from .settings import Settings
from .stores.loaded import announce_loaded
from .wechat.endpoint import WeChatEndpoint

__all__ = ["create_app", "compose_router"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None,
               internals: Internals | None = None) -> Flask:
    """Build the app. With no arguments, settings come from the environment. A bad configuration
    raises ConfigError (one line naming the variable or file); the entry points print it and exit 2."""
    if settings is None:
        settings = Settings.from_env()
    if services is None:
        services = build_services(settings, internals=internals)
    features = build_features(services)
    features.faq.knowledge.warm()  # the FAQ's classifier is trained before any message, not by the first
    router = compose_router(services, features)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=None)
    app.extensions["wxbot"] = Bot(services, features, router)
    register_blueprints(app)
    register_error_handlers(app)
    if settings.trusted_proxies:  # the client address of people's requests (admin API throttle)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    mount_wechat(app, WeChatEndpoint(services, router))
    announce_loaded(services.redis, "web", services.bot)  # for `wxbot doctor`: bot.yaml edited since?
    return app


def compose_router(services: Services, f: Features) -> Router:
    """Every route, in the order they are tried; the first that matches answers."""
    basics = Basics(services, f.staff, topics=f.faq.topics, forget=[f.password.forget])
    return Router(
        basics.my_id, basics.staff,  # "#..." staff commands, #我的ID
        basics.subscribe, basics.unsubscribe,  # events a follower causes
        f.tickets.dialog,  # a report in progress takes what belongs to it
        f.password.request,  # 【密码】 and its keywords
        f.tickets.status, f.tickets.human, f.tickets.no_report, f.tickets.intake,
        f.password.faq_way,  # the FAQ's best answer is the password entry
        f.faq.handover_route({"tickets": f.tickets.start_intake}, declines={"tickets": f.tickets.reports_nothing}),
        *f.ai.routes,  # AI answers (only when WXBOT_AI_API_KEY is set): what the FAQ has no answer for
        f.faq.answer_route,
        basics.click_unknown, basics.event, basics.media,  # other events and media
        fallback=basics.fallback,
    )


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(password_api.bp)
    console.init_app(app)  # /console (404 without WXBOT_SECRET_KEY)


def mount_wechat(app: Flask, endpoint: WeChatEndpoint) -> None:
    """``/wechat`` is WeChat's, not a person's: its own WSGI app beside Flask (see wechat/endpoint.py)."""
    dispatcher = DispatcherMiddleware(app.wsgi_app, {"/wechat": endpoint})

    def wsgi_app(environ, start_response):
        # The dispatcher moves /wechat into SCRIPT_NAME; on a copy, so the server's access log still
        # shows the path.
        return dispatcher(dict(environ), start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]


def register_error_handlers(app: Flask) -> None:
    """Plain-text answers for every error of the people's side (never a traceback)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if console.handles(request.path):  # e.g. an unknown console path: a page, as the console's own errors
            return console.error_response(exc)
        return Response(f"{exc.code} {exc.name}\n", status=exc.code, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.error("unhandled error: %s", exc.__class__.__name__, exc_info=exc)
        return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")
