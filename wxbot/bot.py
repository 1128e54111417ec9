"""The features of one process, built on its Services in dependency order (the FAQ first: the
password and tickets features consult it), and the worker's task list.

``create_app`` (wxbot/__init__.py) composes their routes; ``wxbot worker`` runs their tasks; the CLI
commands use them. Nothing here is global: each process builds its own from Settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from .alerts import AlertTask, RedisMarkerTask
from .features.ai import AiFeature
from .features.faq import FaqFeature
from .features.password import PasswordFeature
from .features.tickets import TicketsFeature
from .metrics import MetricsPushTask
from .router import Router, StaffCommands
from .services import Services
from .worker import HeartbeatTask, Task


@dataclass
class Features:
    services: Services
    faq: FaqFeature
    password: PasswordFeature
    tickets: TicketsFeature
    staff: StaffCommands
    ai: AiFeature

    @property
    def menu_keys(self) -> set[str]:
        """EventKeys some route answers (``wxbot menu push`` warns about the others)."""
        return {self.password.menu_key}

    def worker_tasks(self) -> list[Task]:
        """Everything ``wxbot worker`` does, in the order of one loop."""
        return [HeartbeatTask(self.services), AlertTask(self.services), RedisMarkerTask(self.services),
                MetricsPushTask(self.services),
                *self.password.worker_tasks(), *self.tickets.worker_tasks(), *self.ai.worker_tasks()]


def build_features(services: Services) -> Features:
    faq = FaqFeature(services)
    password = PasswordFeature(services, faq_says_password=faq.says_route("password"))
    tickets = TicketsFeature(services, faq.knowledge, passthrough=[password.request.match, password.faq_way.match])
    staff = StaffCommands(*password.staff_commands(), *tickets.staff_commands(), *faq.staff_commands())
    ai = AiFeature(services, faq.knowledge)
    return Features(services, faq, password, tickets, staff, ai)


@dataclass
class Bot:
    """What ``app.extensions["wxbot"]`` holds for the Flask views: the services, features and routes."""

    services: Services
    features: Features
    router: Router
