"""Revising the thing group's Greengrass deployment: add or remove one model component, keep the rest.

A revision starts from the target's latest deployment (``ListDeployments`` + ``GetDeployment``) and copies
everything the release does not own (``ml.edge_models``): its name, every other component with its
version, configuration update and run-with options, its policies, job configuration, parent target and
tags. The tag pipeline's ``models`` configuration is rewritten with every revision.

Every function here is pure: it returns the ``CreateDeployment`` request, or None when the latest
deployment already is what the revision would create (so approving a version twice creates nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ml.edge_models import revision, with_models

# A failed or canceled deployment is not re-pushed with a model on top: a person has to look first.
REVISABLE = frozenset({"ACTIVE", "COMPLETED"})


def release_problems(deployment: Mapping[str, Any] | None, *, target_arn: str, pipeline: str) -> list[str]:
    """Why a model cannot be added to ``deployment`` (the target's latest), or [] when it can."""
    if deployment is None:
        return [
            f"thing group {target_arn} has no Greengrass deployment; fix: deploy the site's edge stack first, "
            "then approve the model package again"
        ]
    status = deployment.get("deploymentStatus")
    if status not in REVISABLE:
        return [
            f"the latest deployment {deployment['deploymentId']} of {target_arn} is {status}; "
            "fix: repair the edge deployment (cdk deploy of the edge stack), then approve the model package again"
        ]
    if pipeline not in deployment.get("components", {}):
        return [
            f"the latest deployment {deployment['deploymentId']} of {target_arn} has no {pipeline}, which runs "
            "the models; fix: deploy the site's edge stack with the tag-pipeline component"
        ]
    return []


def add_model(
    deployment: Mapping[str, Any], *, pipeline: str, root: str, component: str, version: str
) -> dict[str, Any] | None:
    """The request that puts ``component`` at ``version`` into ``deployment``; None if it is there already.
    ``root``: the gateways' Greengrass root, where the pipeline finds the model's artifacts."""
    components = copy.deepcopy(dict(deployment["components"]))
    components[component] = {"componentVersion": version}
    return _revised(deployment, with_models(components, pipeline=pipeline, root=root))


def remove_model(
    deployment: Mapping[str, Any], *, pipeline: str, root: str, component: str, version: str
) -> dict[str, Any] | None:
    """The request that takes ``component`` out of ``deployment`` if it runs ``version`` there; else None
    (a newer version of the model replaced it, or it is not deployed)."""
    components = copy.deepcopy(dict(deployment.get("components", {})))
    if components.get(component, {}).get("componentVersion") != version:
        return None
    del components[component]
    return _revised(deployment, with_models(components, pipeline=pipeline, root=root))


def _revised(deployment: Mapping[str, Any], components: dict[str, Any]) -> dict[str, Any] | None:
    return revision(deployment, target_arn=deployment["targetArn"], components=components, settings=deployment)
