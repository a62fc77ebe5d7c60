"""Idle shutdown of one SageMaker Studio JupyterLab app; the workspace's lifecycle configuration starts it.

Every ``--interval-s`` it asks the app's own Jupyter server (its REST API on localhost) for the server's
status, its kernels and its terminals. The app is idle when no kernel is busy and the latest activity of
any kernel or terminal (the server's start when there is none) is at least ``--idle-minutes`` old. Then it
deletes its own app through the SageMaker API (``DeleteApp``: the space and its storage stay, the next start
opens the same files), which stops the instance and its billing.

What counts as activity is what runs: code in a kernel, a terminal. Browser requests do not: an open
JupyterLab tab polls the server all the time, so counting them would keep every forgotten tab's instance
running. JupyterLab saves open notebooks every two minutes by default, so a shutdown loses at most that.
Its own requests carry ``no_track_activity`` and go to handlers that do not record activity.

Standard library only, except boto3 for the one SageMaker call: the SageMaker Distribution images that
JupyterLab spaces run ship it. Which app to delete is in the app's resource metadata file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Where SageMaker Studio serves a JupyterLab space's server inside the app, and where it describes the app.
SERVER_URL = "http://localhost:8888/jupyterlab/default"
METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")
APP_TYPE = "JupyterLab"
# How often the app checks itself: a session ends at most this long after its idle time is reached.
CHECK_INTERVAL_S = 60

Fetch = Callable[[str], Any]


def fetch_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body (the server answers on localhost within the app)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _instant(text: str) -> float:
    """A Jupyter timestamp (ISO 8601, UTC, "Z" suffix) as seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def idle_seconds(
    status: Mapping[str, Any], kernels: Sequence[Mapping[str, Any]], terminals: Sequence[Mapping[str, Any]], now: float
) -> float | None:
    """Seconds since the last activity of any kernel or terminal (the server's start when there is none);
    None while a kernel is busy (a long computation emits nothing, so its last activity grows old)."""
    if any(kernel.get("execution_state") == "busy" for kernel in kernels):
        return None
    moments = [_instant(status["started"])]
    moments += [_instant(item["last_activity"]) for item in [*kernels, *terminals] if item.get("last_activity")]
    return now - max(moments)


def is_idle(server_url: str, idle_minutes: float, now: float, fetch: Fetch = fetch_json) -> bool:
    """True when the app behind ``server_url`` has been idle for at least ``idle_minutes`` at ``now``."""
    quiet = "?no_track_activity=1"
    status = fetch(f"{server_url}/api/status")
    kernels = fetch(f"{server_url}/api/kernels{quiet}")
    # A server without the terminals extension answers 404: no terminal, no terminal activity.
    try:
        terminals = fetch(f"{server_url}/api/terminals{quiet}")
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        terminals = []
    seconds = idle_seconds(status, kernels, terminals, now)
    return seconds is not None and seconds >= idle_minutes * 60


def delete_app(metadata_file: Path, sagemaker: Any) -> None:
    """Delete this app, as its resource metadata names it, with the ``sagemaker`` client."""
    metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    sagemaker.delete_app(
        DomainId=metadata["DomainId"],
        SpaceName=metadata["SpaceName"],
        AppType=APP_TYPE,
        AppName=metadata["ResourceName"],
    )


def _shut_down(metadata_file: Path, region: str) -> None:
    import boto3  # in the app's image; only this call needs it

    delete_app(metadata_file, boto3.client("sagemaker", region_name=region))


def watch(
    *,
    server_url: str,
    idle_minutes: float,
    interval_s: float,
    shut_down: Callable[[], None],
    fetch: Fetch = fetch_json,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> None:
    """Check every ``interval_s`` and call ``shut_down`` once the app is idle; a failed check is logged
    and retried (the server may still be starting, or restarting)."""
    while True:
        try:
            if is_idle(server_url, idle_minutes, clock(), fetch):
                log(f"idle for {idle_minutes:g} minutes: deleting the app")
                shut_down()
                return
        except (OSError, ValueError, KeyError) as error:
            log(f"idle check failed, retrying in {interval_s:g} s: {error!r}")
        sleep(interval_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-minutes", type=float, required=True, help="delete the app after this long idle")
    parser.add_argument("--region", required=True, help="the app's region (the SageMaker API is called there)")
    parser.add_argument("--interval-s", type=float, default=CHECK_INTERVAL_S, help="seconds between checks")
    parser.add_argument("--server-url", default=SERVER_URL, help="the app's Jupyter server")
    parser.add_argument("--metadata-file", type=Path, default=METADATA_FILE, help="the app's resource metadata")
    args = parser.parse_args(argv)
    if args.idle_minutes <= 0 or args.interval_s <= 0:
        parser.error("--idle-minutes and --interval-s must be above 0")
    watch(
        server_url=args.server_url.rstrip("/"),
        idle_minutes=args.idle_minutes,
        interval_s=args.interval_s,
        shut_down=lambda: _shut_down(args.metadata_file, args.region),
        log=lambda line: print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}", flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
