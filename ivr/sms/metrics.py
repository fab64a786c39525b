"""SMS, metrics: Prometheus gauges of messages by kind and state, failures per mobile operator,
and citizens' replies, read from the store at scrape time (right after a restart, too)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from ivr.store.sms import SmsStore


class SmsGauges:
    """The SMS part of /metrics, in the engine's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Gauge("rabta_sms_messages", "SMS messages by kind and state",
                              ["kind", "state"], registry=registry)
        self.failed = Gauge("rabta_sms_failed_by_operator",
                            "SMS messages failed, by mobile operator", ["operator"],
                            registry=registry)
        self.inbound = Gauge("rabta_sms_inbound", "Citizens' SMS by what they were: answer, "
                             "stop, text", ["kind"], registry=registry)
        self.queue = Gauge("rabta_sms_replies_uncategorised",
                           "Free-text replies no official has categorised yet", registry=registry)

    async def refresh(self, store: Any) -> None:
        """Read the current figures."""
        f = await SmsStore(store).figures()
        self.messages.clear()
        for kind, state, n in f["messages"]:
            self.messages.labels(kind, state).set(n)
        for operator, n in f["failed_by_operator"].items():
            self.failed.labels(operator).set(n)
        for kind in ("answer", "stop", "text"):
            self.inbound.labels(kind).set(f["inbound"].get(kind, 0))
        self.queue.set(f["queue"])
