"""The CDK App and which sites' stacks it builds: one top-level stack per selected (site, region),
gated by the compliance packs. app.py runs it; tests build it in-process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from policies.gate import apply_compliance_gate
from site_model import Site, load_sites
from site_model.selection import SelectionError, select
from stacks.site_stack import SiteStack
from tooling.parallel_synth import SHARE_CONTEXT

# Behaviour the constructs rely on, set here so that the CLI and in-process tests agree.
FEATURE_FLAGS = {
    # Access-log delivery through a bucket policy (the access-log bucket has ACLs disabled), not a legacy ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def new_app(**props: Any) -> App:
    """An App the way the CLI runs this project, with CDK's built-in CloudFormation validation off:
    `make synth` runs cfn-lint over every template instead, and the built-in engine only warns and costs
    seconds per synth (it compiles a WASM module; figures in docs/performance.md)."""
    return App(builtin_cloud_formation_validation=False, **props)


def build(app: App, sites: dict[str, Site] | None = None) -> list[SiteStack]:
    """Construct only the selected sites' stacks (a targeted synth never builds the others).

    ``sites`` defaults to every file in tenants/; tests pass their own.
    """
    for flag, value in FEATURE_FLAGS.items():
        app.node.set_context(flag, value)
    try:
        if sites is None:
            folder = app.node.try_get_context("tenants")
            sites = load_sites(Path(folder)) if folder else load_sites()
        selection = select(
            sites,
            app.node.try_get_context("site"),
            app.node.try_get_context("region"),
            app.node.try_get_context(SHARE_CONTEXT),
        )
    except (SelectionError, ValueError) as error:
        sys.exit(f"error: {error}")
    stacks = [
        SiteStack(app, site=site, region=region, account=site.account or os.environ.get("CDK_DEFAULT_ACCOUNT"))
        for site, region in selection
    ]
    apply_compliance_gate(app)
    return stacks
