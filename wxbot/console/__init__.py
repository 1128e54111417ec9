"""The console (``/console``): admins and support sign in, rotate the NextChat password, work the
tickets and keep the FAQ, texts and menu right in a browser. Server-rendered pages (Jinja templates
in ``templates/``, CSS and one script in ``static/``), sessions and users in Redis, CSRF on every form. ``init_app`` registers it; without
``WXBOT_SECRET_KEY`` every console path answers 404."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .web import error_response, handles, init_app

__all__ = ["init_app", "handles", "error_response"]


def __getattr__(name: str):
    # Flask, Jinja and the views load with the web app (``create_app`` asks for ``init_app`` at start),
    # not with ``wxbot console`` (console/cli.py); once loaded, the names are this module's own.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import admin, auth, dashboard, knowledge, tickets, web  # noqa: F401 - the views register themselves on the blueprint

    globals().update({n: getattr(web, n) for n in __all__})
    return globals()[name]
