"""``make edge-run``: the whole edge pipeline on this machine, against a local broker with mutual TLS.

Runs the simulator with a tag map (default: the plantA example), harmonizes into
the site's canonical units, reports by exception, batches, spools and publishes
over MQTT 5 + mutual TLS with the AWS IoT Device SDK, for ``--seconds``, then
drains and prints a summary. It stops by itself.

By default it makes a CA and certificates under ``--work`` and starts its own
mosquitto on a free 127.0.0.1 port; ``--broker HOST:PORT --pki DIR`` uses a
broker that already runs (DIR holds ca.crt and <gateway>.crt/.key). The spool
lives under ``--work`` too and persists between runs: what a run could not
deliver, the next one sends first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki, make_pki
from edge.pipeline.runner import Runner, RunnerConfig, Summary
from edge.pipeline.tag_map import TagMap, TagMapError, load_tag_map
from edge.sources.backoff import ReconnectSettings
from edge.sources.simulator import SimulatorSource, parse_settings
from edge.transports.mqtt_direct import MqttDirectSettings, MqttDirectTransport
from site_model import SiteFileError, load_site

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "edge" / "pipeline" / "examples" / "plantA-gw-01.yaml"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edge.run_local", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to collect (default 20)")
    parser.add_argument("--tag-map", type=Path, default=EXAMPLE, help="simulator tag map (default: plantA example)")
    parser.add_argument("--site", type=Path, default=ROOT / "tenants" / "plantA.yaml", help="site file of the tag map")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "edge-run", help="certificates, broker, spool")
    parser.add_argument("--spool", type=Path, help="spool file (default: <work>/spool-<gateway>.db)")
    parser.add_argument("--broker", help="HOST:PORT of a running broker to use instead of starting one")
    parser.add_argument("--pki", type=Path, help="with --broker: folder with ca.crt and <gateway>.crt/.key")
    parser.add_argument("--linger-s", type=float, default=2.0, help="longest wait of a value in a batch")
    parser.add_argument("--heartbeat-s", type=int, default=5, help="time between heartbeats")
    parser.add_argument("--drain-s", type=float, default=10.0, help="how long the stop waits for the spool to drain")
    arguments = parser.parse_args(argv)
    if (arguments.broker is None) != (arguments.pki is None):
        parser.error("--broker and --pki go together")
    if arguments.seconds <= 0:
        parser.error("--seconds must be positive")
    if arguments.broker is not None and not re.fullmatch(r"[^:\s]+:\d{1,5}", arguments.broker):
        parser.error(f"--broker {arguments.broker!r} is not HOST:PORT, e.g. localhost:8883")
    return arguments


def _simulator_only(tag_map: TagMap, origin: Path) -> None:
    others = [f"tags[{index}] ({tag.source})" for index, tag in enumerate(tag_map.tags) if tag.source != "simulator"]
    if others:
        raise TagMapError(
            str(origin), [f"{', '.join(others)}: edge-run runs the simulator only; fix: use a simulator tag map"]
        )


async def _run(runner: Runner, seconds: float) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(seconds, stop.set)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await runner.run(stop)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        site = load_site(arguments.site)
        units = site.edge.canonical_units
        tag_map = load_tag_map(arguments.tag_map, canonical_units=units)
        _simulator_only(tag_map, arguments.tag_map)
        source = SimulatorSource(parse_settings(tag_map.settings("simulator")), tag_map.addresses("simulator"))
    except (SiteFileError, TagMapError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    if (tag_map.enterprise, tag_map.site) != (site.enterprise, site.id):
        print(f"{arguments.tag_map}: is for {tag_map.enterprise}/{tag_map.site}, not {site.enterprise}/{site.id} "
              f"of {arguments.site}; fix: pass the matching --site", file=sys.stderr)  # fmt: skip
        return 2

    gateway = tag_map.gateway
    work = arguments.work
    with ExitStack() as cleanup:
        if arguments.broker is None:
            pki = make_pki(work / "pki", [gateway])
            broker = cleanup.enter_context(LocalMosquitto(work / "broker", pki))
            host, port = "localhost", broker.port
            print(f"edge-run: mosquitto with mutual TLS on 127.0.0.1:{port} (log {broker.log})")
        else:
            pki = Pki(arguments.pki)
            host, _, port_text = arguments.broker.rpartition(":")
            port = int(port_text)
        transport = MqttDirectTransport(
            MqttDirectSettings(
                endpoint=host,
                port=port,
                client_id=gateway,
                certificate=pki.cert(gateway),
                private_key=pki.key(gateway),
                ca=pki.ca,
                reconnect_min_s=0.5,
                reconnect_max_s=2.0,
            )
        )
        config = RunnerConfig(
            spool_path=arguments.spool or work / f"spool-{gateway}.db",
            canonical_units=units,
            linger_s=arguments.linger_s,
            heartbeat_interval_s=arguments.heartbeat_s,
            drain_timeout_s=arguments.drain_s,
            reconnect=ReconnectSettings(initial_s=0.2, max_s=2.0),
        )
        runner = Runner(tag_map, config, sources=[source], transport=transport)
        print(f"edge-run: {len(tag_map.tags)} simulated tags of {gateway} for {arguments.seconds:g}s ...")
        summary = asyncio.run(_run(runner, arguments.seconds))
    print(
        f"edge-run: values read {summary.read}, reported {summary.reported} "
        f"(suppressed {summary.suppressed_pct:.1f}%), batches {summary.batches}, sent {summary.sent}, "
        f"spool depth {summary.spool_depth}, dropped on overflow {summary.dropped_overflow}, "
        f"retransmissions {summary.retransmissions}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
