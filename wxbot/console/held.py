"""Held tickets in the console: tickets the global hourly intake cap kept back from support
(``tickets.max_tickets_per_hour``), shown with a filter and released with a button."""
from __future__ import annotations

from ..features.tickets import Runtime


class HeldTickets:
    available = True

    def __init__(self, rt: Runtime):
        self.rt = rt

    def is_held(self, record: dict) -> bool:
        return record.get("held") == "1"

    def release(self, ticket_id: str, by: str) -> str:  # noqa: ARG002 - the console audits who
        return "ok" if self.rt.store.release(ticket_id) else "not_held"
