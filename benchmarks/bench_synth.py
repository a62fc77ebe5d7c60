"""Synth cost against the number of sites: all sites, one targeted site, and the jsii floor.

Generates 1, 10 and 50 synthetic sites (copies of plantC spread over regions) in a
temporary folder, then runs `python app.py` the way the CDK CLI does (context and
output folder through the environment), gate included. Peak memory is the largest sum
of the resident sets of the synth's process tree (python, its jsii node child, and for a synth of
every site the worker processes with theirs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ["eu-central-1", "us-east-1", "ap-southeast-1", "eu-west-1", "us-west-2"]
SITE_COUNTS = (1, 10, 50)
REPEATS = 3  # best of: the machine's background noise is one-sided


def write_sites(folder: Path, count: int) -> None:
    template = yaml.safe_load((ROOT / "tenants" / "plantC.yaml").read_text())
    for index in range(count):
        region = REGIONS[index % len(REGIONS)]
        site = {
            **template,
            "id": f"site{index:03d}",
            "display_name": f"Synthetic site {index}",
            "home_region": region,
            "data_regions": [region],
            "network": {**template["network"], "cidr": f"10.{index % 250}.0.0/20"},
            "edge": {**template["edge"], "thing_group": f"site{index:03d}-gateways", "gateways": [f"gw-{index:03d}"]},
            # One account per site: an account and region holds at most five site trails, and each needs
            # the one site that provides the region's audit baseline (site_model/loader.py).
            "account": f"{100000000000 + index}",
            "audit": {**template.get("audit", {}), "region_baseline": [region]},
        }
        (folder / f"site{index:03d}.yaml").write_text(yaml.safe_dump(site))


def run(command: list[str], context: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of one synth run: the largest sum of the resident sets of its
    process tree (the app, its jsii node process, and any workers with theirs), sampled every 20 ms."""
    with tempfile.TemporaryDirectory() as outdir:
        env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": outdir}
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        root = psutil.Process(process.pid)
        while process.poll() is None:
            peak = max(peak, _tree_rss(root))
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        if process.returncode != 0:
            assert process.stderr is not None
            sys.exit(f"synth failed ({command}):\n{process.stderr.read().decode()[-3000:]}")
    return elapsed, peak / 1e6


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        for member in [root, *root.children(recursive=True)]:
            total += member.memory_info().rss
    except psutil.NoSuchProcess:  # a process ended while being read
        pass
    return total


def best(command: list[str], context: dict[str, str]) -> tuple[float, float]:
    runs = [run(command, context) for _ in range(REPEATS)]
    return min(seconds for seconds, _ in runs), max(peak for _, peak in runs)


def main() -> None:
    python = sys.executable
    floor_s, floor_mb = best([python, "-c", "from aws_cdk import App; App().synth()"], {})
    print(f"floor (empty app, jsii start-up): {floor_s:.2f} s, {floor_mb:.0f} MB")
    # The app turns CDK's built-in template validation off (cfn-lint runs instead); for the record,
    # what an empty app costs without it too. The ratio below uses the floor above, the default app.
    bare = "from aws_cdk import App; App(builtin_cloud_formation_validation=False).synth()"
    bare_s, _ = best([python, "-c", bare], {})
    print(f"floor without CDK's built-in template validation: {bare_s:.2f} s")
    print(f"{'sites':>5} {'all_s':>7} {'per_site_s':>10} {'one_s':>6} {'one/floor':>9} {'peak_mb':>8}")
    line = ""
    for count in SITE_COUNTS:
        with tempfile.TemporaryDirectory() as folder:
            write_sites(Path(folder), count)
            all_s, all_mb = best([python, "app.py"], {"tenants": folder})
            one_s, one_mb = best([python, "app.py"], {"tenants": folder, "site": "site000"})
        per_site = (all_s - floor_s) / count
        peak = max(all_mb, one_mb)
        ratio = one_s / floor_s
        print(f"{count:>5} {all_s:>7.2f} {per_site:>10.3f} {one_s:>6.2f} {ratio:>9.2f} {peak:>8.0f}")
        line = (
            f"bench-synth: sites={count} all_s={all_s:.2f} one_s={one_s:.2f} floor_s={floor_s:.2f} "
            f"one_over_floor={ratio:.2f} per_site_s={per_site:.3f} peak_mb={peak:.0f}"
        )
    print(line)


if __name__ == "__main__":
    main()
