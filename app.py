"""CDK app: one top-level stack per selected (site, region), gated by the compliance packs.

cdk synth                                     every site, each in its home region (a worker per core)
cdk deploy -c site=plantA                     plantA in its home region
cdk deploy -c site=plantA -c region=eu-west-1 plantA in another of its data regions

This file only chooses how to synthesize; stacks/site_app.py builds the app. A synth of every site
runs in worker processes (tooling/parallel_synth.py), so this process imports the CDK only when it
synthesizes by itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from site_model import load_sites
from tooling.parallel_synth import SHARE_CONTEXT, cli_context, synth_in_workers


def main() -> int:
    context = cli_context()
    outdir = os.environ.get("CDK_OUTDIR")  # set by the CLI: where the cloud assembly goes
    every_site = not any(key in context for key in ("site", "region", SHARE_CONTEXT))
    if outdir and every_site:
        folder = context.get("tenants")
        try:
            site_ids = sorted(load_sites(Path(folder)) if folder else load_sites())
        except ValueError as error:
            sys.exit(f"error: {error}")
        workers = min(os.cpu_count() or 1, len(site_ids))
        if workers > 1:
            return synth_in_workers(site_ids, Path(outdir), workers)
    from stacks.site_app import build, new_app  # the CDK and its jsii process start here

    app = new_app()
    build(app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
