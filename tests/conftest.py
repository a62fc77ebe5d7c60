"""Shared fixtures: no real AWS, and each example site built once per test run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stacks.site_stack import SiteStack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> None:
    """No test may reach AWS: fake credentials and a default region, set before any client exists."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def site_stack(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SiteStack]:
    """``site_stack("plantA")``: the example site's top-level stack, synthesized under the gate once per test run."""
    # Imported here: runtime tests (edge, Lambda, Glue) run without loading the CDK.
    from stacks.site_app import build, new_app
    from synth_helpers import example_sites

    built: dict[str, SiteStack] = {}

    def get(site_id: str) -> SiteStack:
        if site_id not in built:
            app = new_app(outdir=str(tmp_path_factory.mktemp(site_id)), context={"site": site_id})
            (built[site_id],) = build(app, example_sites())
            app.synth()  # the gate runs; the cloud assembly is in app.outdir
        return built[site_id]

    return get
