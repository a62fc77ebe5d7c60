"""The edge stack's part of the site's deployment, and the revision that puts it on the gateways.

The stack owns every component but the models (``ml.edge_models``): a revision of the stack's
part keeps the model components of the target's latest deployment and rewrites the tag pipeline's
``models`` configuration for them. Pure functions: the request, or None when the latest deployment
already is the revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml.edge_models import SETTINGS, is_model, models_of, revision, with_models

# The custom resource's properties (CloudFormation passes every value as a string).
PROPERTIES = ("TargetArn", "Deployment", "PipelineComponent", "GreengrassRoot")


@dataclass(frozen=True)
class StackPart:
    """What the stack deploys: target, components (API shape) and the deployment's settings."""

    target_arn: str
    components: dict[str, Any]
    settings: dict[str, Any]
    pipeline: str
    root: str


def stack_part(properties: Mapping[str, Any]) -> StackPart:
    """The custom resource's properties as a ``StackPart``; raises ValueError naming every problem."""
    problems = [f"property {name} is missing" for name in PROPERTIES if not properties.get(name)]
    deployment: Any = {}
    if properties.get("Deployment"):
        try:
            deployment = json.loads(properties["Deployment"])
        except json.JSONDecodeError as error:
            problems.append(f"property Deployment is not JSON ({error})")
    if not isinstance(deployment, dict):
        problems.append("property Deployment is not a JSON object")
        deployment = {}
    components = deployment.get("components", {}) if properties.get("Deployment") else {}
    if properties.get("Deployment") and not components:
        problems.append("property Deployment names no components")
    models = sorted(name for name in components if is_model(name))
    if models:
        problems.append(f"property Deployment names model components {models}: the model release owns those")
    unknown = sorted(set(deployment) - {"components", *SETTINGS})
    if unknown:
        problems.append(f"property Deployment has unknown keys {unknown}")
    root = properties.get("GreengrassRoot", "")
    if root and not root.startswith("/"):
        problems.append(f"property GreengrassRoot {root!r} is not an absolute path")
    if problems:
        raise ValueError(
            "edge deployment resource misconfigured: " + "; ".join(problems) + "; fix: synthesize the "
            "edge stack with EdgeDeployment, which writes these properties"
        )
    return StackPart(
        target_arn=properties["TargetArn"],
        components=dict(components),
        settings={key: deployment[key] for key in SETTINGS if key in deployment},
        pipeline=properties["PipelineComponent"],
        root=root,
    )


def stack_revision(part: StackPart, latest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``CreateDeployment`` request of ``part`` plus the models ``latest`` runs; None if ``latest`` is it."""
    components = with_models({**part.components, **models_of(latest)}, pipeline=part.pipeline, root=part.root)
    return revision(latest, target_arn=part.target_arn, components=components, settings=part.settings)
