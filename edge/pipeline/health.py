"""The gateway's heartbeat: its health figures as an envelope ``heartbeat`` message.

Every figure is cumulative since the gateway's first start and persisted in the
spool, so a restart never makes a counter go back:

* ``clients`` / ``max_clients``: PLC sessions (sources) that delivered readings
  during the last interval / the sessions the gateway is sized for
  (``RunnerConfig.max_clients``); the cloud alerts when the gateway nears its budget;
* ``sent``: telemetry messages the transport confirmed;
* ``received``: readings received from the sources;
* ``retransmissions``: repeated delivery attempts of telemetry messages (after a
  failed publish, or a restart while a publish was unconfirmed);
* ``lost``: values that will never reach the cloud: evicted on spool overflow, or
  discarded by the harmonizer (address not in the tag map, unsendable value with
  no last value to stand in);
* ``spool_depth``: messages waiting for delivery;
* ``dropped_overflow``: values evicted because the spool was full.
"""

from __future__ import annotations

from edge.pipeline.pipeline import Pipeline
from edge.pipeline.spool import Spool
from envelope.tag_envelope import encode, heartbeat, topic, utc_timestamp


class Health:
    """Builds heartbeat messages; each one takes the next persisted heartbeat sequence number."""

    def __init__(self, *, site: str, gateway: str, spool: Spool, pipeline: Pipeline, interval_s: int) -> None:
        self.site = site
        self.gateway = gateway
        self.topic = topic(site, gateway, "health")
        self.interval_s = interval_s
        self._spool = spool
        self._pipeline = pipeline

    def message(self, *, clients: int, max_clients: int, now: float) -> bytes:
        """The heartbeat as of ``now`` (epoch seconds)."""
        dropped = self._spool.counter("dropped_overflow")
        return encode(
            heartbeat(
                site=self.site,
                gateway=self.gateway,
                ts=utc_timestamp(now),
                seq=self._spool.bump("heartbeat_seq"),
                interval_s=self.interval_s,
                clients=clients,
                max_clients=max_clients,
                sent=self._spool.counter("sent"),
                received=self._pipeline.received,
                retransmissions=self._spool.counter("retransmissions"),
                lost=dropped + self._pipeline.harmonizer.discarded,
                spool_depth=self._spool.depth,
                dropped_overflow=dropped,
            )
        )
