"""Held tickets: the reliability issue's ``held`` state (a ticket kept back from delivery until support
releases it). This branch has no such state yet, so ``NoHeldTickets`` answers for it and the console
offers no held filter and no release button. When the tickets feature gains it, give the console an
object with the same three members (``Console.held``); nothing else in the console changes."""
from __future__ import annotations


class NoHeldTickets:
    available = False

    def is_held(self, record: dict) -> bool:  # noqa: ARG002 - the hook's signature
        return False

    def release(self, ticket_id: str, by: str) -> str:  # noqa: ARG002 - the hook's signature
        return "unavailable"
