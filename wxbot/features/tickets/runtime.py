"""What the ticket parts share (``Runtime``), built once per feature from the services, and how a
ticket's times are shown to people."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import tzinfo
from typing import TYPE_CHECKING

from ...texts import show_time
from .shots import Screenshots, build_screenshots
from .spool import Spool
from .store import Limits, TicketStore

if TYPE_CHECKING:
    from ...defaults import Tickets as TicketsInternals
    from ...policy import TicketsPolicy
    from ...services import Services


def format_time(ts: float | str | None, zone: tzinfo) -> str:
    """A time for a person, in bot.yaml's ``timezone`` and saying so: ``2024-06-15 20:30 (UTC+8)``."""
    return show_time(ts, zone)



@dataclass
class Runtime:
    """What the intake, the support actions and the worker share: config, the store, the spool."""

    services: "Services"
    cfg: "TicketsPolicy"
    internals: "TicketsInternals"
    store: TicketStore
    spool: Spool
    shots: "Screenshots"  # where fetched screenshots are kept: Redis, or the S3 bucket (shots.py)
    # dedupe ids this process spooled recently: WeChat's retries (no Redis to dedupe them) are
    # neither appended nor counted again
    spooled: OrderedDict = dc_field(default_factory=OrderedDict)

    @property
    def zone(self) -> tzinfo:
        """bot.yaml ``timezone``: ticket ids' dates and every ticket time shown to a person."""
        return self.services.bot.zone


def build_runtime(services: "Services") -> Runtime:
    cfg = services.bot.tickets
    internals = services.internals.tickets
    store = TicketStore(services.redis, Limits(cfg.max_open_per_follower, cfg.max_reports_per_hour,
                                               internals.source_ttl, cfg.dialog_timeout, cfg.max_tickets_per_hour))
    shots = build_screenshots(services.redis, store, services.settings, internals.screenshot_retention,
                              internals.s3_timeout, internals.screenshot_max_bytes)
    return Runtime(services, cfg, internals, store, Spool(services.settings.data_dir), shots)
