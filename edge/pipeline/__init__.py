"""The edge data path: readings -> harmonize -> report by exception -> batch -> durable spool -> publish.

* ``tag_map``: the per-gateway tag map file (pydantic, strict) and its loader.
* ``units``: conversions into the site's canonical units.
* ``harmonizer``: address -> ISA-95 path, units, quality, timestamp, seq and idempotency key.
* ``deadband``: report by exception (deadbands, always-sent changes, max interval).
* ``batcher``: size-bounded ``tags`` messages per ISA-95 line with gapless ``batch_seq``.
* ``spool``: SQLite (WAL) store-and-forward with persisted counters and a counted overflow policy.
* ``pipeline``: the synchronous hot path wiring the four stages above.
* ``health``: the heartbeat message.
* ``runner``: the async host of it all between ``Source`` and ``Transport`` objects.
* ``local_mosquitto``: a local broker with mutual TLS for ``make edge-run`` and tests (not used on gateways).
"""
