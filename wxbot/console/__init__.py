"""The console (``/console``): admins and support sign in, rotate the NextChat password, work the
tickets and keep the FAQ, texts and menu right in a browser. Server-rendered pages (Jinja templates
in ``templates/``, CSS and one script in ``static/``), sessions and users in Redis, CSRF on every form. ``init_app`` registers it; without
``WXBOT_SECRET_KEY`` every console path answers 404."""
from __future__ import annotations

from . import admin, auth, dashboard, knowledge, tickets  # noqa: F401 - the views register themselves on the blueprint
from .web import error_response, handles, init_app

__all__ = ["init_app", "handles", "error_response"]
