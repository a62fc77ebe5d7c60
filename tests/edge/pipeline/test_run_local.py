"""`make edge-run`: the standalone run starts its own broker, streams for the given time and stops by itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.network


def edge_run(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "edge.run_local", *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)


def test_edge_run_streams_to_its_own_broker_and_prints_a_summary(tmp_path: Path) -> None:
    done = edge_run("--seconds", "3", "--work", str(tmp_path), "--linger-s", "0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"mosquitto with mutual TLS on 127\.0\.0\.1:\d+", done.stdout)
    summary = re.search(
        r"values read (\d+), reported (\d+) \(suppressed [\d.]+%\), batches (\d+), sent (\d+), spool depth 0, "
        r"dropped on overflow 0, retransmissions 0$",
        done.stdout.strip(),
    )
    assert summary, done.stdout
    read, reported, batches, sent = map(int, summary.groups())
    assert read >= 17 * 5 and 0 < reported <= read and batches == sent > 0
    assert (tmp_path / "pki" / "plantA-gw-01.crt").exists() and (tmp_path / "spool-plantA-gw-01.db").exists()


def test_edge_run_rejects_a_bad_tag_map_with_its_message(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text(encoding="utf-8").replace("unit: degF", "unit: degR", 1), encoding="utf-8")
    done = edge_run("--tag-map", str(broken), "--work", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{broken}: tags[3].unit: no conversion from 'degR' to 'degC' for temperature; "
        "fix: use a temperature unit the gateway converts: degC, degF, K"
    )
