"""wxbot: the WeChat Official Account bot of 产品试金石.

``wxbot.create_app`` is the WSGI factory (``gunicorn "wxbot:create_app()"``), defined in
``wxbot/app.py`` with all the wiring. The package itself imports nothing on load, so that
``wxbot.gunicorn_conf`` can set up the metrics directory before prometheus_client is imported.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import compose_router, create_app  # noqa: F401

__all__ = ["create_app", "compose_router"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'wxbot' has no attribute {name!r}")
