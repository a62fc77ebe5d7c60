"""Which models a site's Greengrass deployment runs, and how the tag pipeline finds them.

A thing group has one deployment, and a new revision replaces the components of the last one: a core
device uninstalls every component the new revision leaves out. Two writers revise the site's deployment,
each owning a part of it:

- the edge stack's deployment resource (``factory_constructs/edge/deployment_handler``) owns every
  component but the models, and the deployment's name and policies;
- the model release (``factory_constructs/ml/release_handler``) owns the model components
  (``com.dmc.Model.<name>``).

So each writer starts from the target's latest deployment and carries over the other's part: a
``cdk deploy`` of the edge stack keeps the released models, and a release keeps what the stack deployed.
Each writer runs one at a time (reserved concurrency 1), but the two are separate functions: a release
and a ``cdk deploy`` that read the same latest deployment at once each write a revision without the
other's change, and the later one wins. Greengrass offers no conditional revision: run a site's releases
and deploys apart, or repeat the one that lost.

The tag pipeline learns which models to load from its configuration key ``models``: one entry per model
component of the revision, sorted by name, ``{"name": <card name>, "artifactDir": <folder>}``, written with
every revision (also ``[]``: a merge update replaces a list but never deletes a key it leaves out).
``artifactDir`` is the folder the nucleus installs the model component's artifacts to,
``<root>/packages/artifacts/<component>/<version>``, with the gateways' Greengrass root written out: the
nucleus interpolates recipe variables in configuration only with ``interpolateComponentConfiguration``
on, which is off by default.

Plain Python (stdlib only): it ships in both Lambda bundles as ``ml/edge_models.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ml.model_card import COMPONENT_PREFIX

MODELS_KEY = "models"
# What a revision takes from the deployment it is based on, besides the components.
SETTINGS = ("deploymentName", "deploymentPolicies", "iotJobConfiguration", "parentTargetArn")


def is_model(component: str) -> bool:
    return component.startswith(COMPONENT_PREFIX)


def artifact_dir(root: str, component: str, version: str) -> str:
    """Where the nucleus rooted at ``root`` installs the (not unarchived) artifacts of ``component``."""
    return f"{root.rstrip('/')}/packages/artifacts/{component}/{version}"


def models_configuration(components: Mapping[str, Mapping[str, Any]], root: str) -> list[dict[str, str]]:
    """The pipeline's ``models``: every model component of ``components``, sorted by name."""
    return [
        {
            "name": name.removeprefix(COMPONENT_PREFIX),
            "artifactDir": artifact_dir(root, name, spec["componentVersion"]),
        }
        for name, spec in sorted(components.items())
        if is_model(name)
    ]


def models_of(deployment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model components of ``deployment`` (as GetDeployment returns it), name -> specification."""
    components = (deployment or {}).get("components", {})
    return {name: copy.deepcopy(spec) for name, spec in components.items() if is_model(name)}


def with_models(components: Mapping[str, Any], *, pipeline: str, root: str) -> dict[str, Any]:
    """``components`` with the pipeline's merge update naming exactly their model components."""
    result = copy.deepcopy(dict(components))
    if pipeline not in result:
        return result
    spec = result[pipeline]
    update = dict(spec.get("configurationUpdate") or {})
    merge = json.loads(update["merge"]) if update.get("merge") else {}
    merge[MODELS_KEY] = models_configuration(result, root)
    update["merge"] = json.dumps(merge, sort_keys=True, separators=(",", ":"))
    spec["configurationUpdate"] = update
    return result


def latest_deployment(greengrass: Any, target_arn: str) -> dict[str, Any] | None:
    """The target's latest deployment as GetDeployment returns it, or None when it has none."""
    listed = greengrass.list_deployments(targetArn=target_arn, historyFilter="LATEST_ONLY")["deployments"]
    if not listed:
        return None
    return dict(greengrass.get_deployment(deploymentId=listed[0]["deploymentId"]))


def revision(
    latest: Mapping[str, Any] | None,
    *,
    target_arn: str,
    components: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The ``CreateDeployment`` request of ``components`` with ``settings`` (the ``SETTINGS`` keys) on
    ``target_arn``, or None when ``latest`` (the target's latest deployment) already is that deployment.

    Tags of ``latest`` are kept, without the ``aws:`` ones, which only AWS may set. The client token is
    derived from the request and the deployment it is based on: a retry of the same revision sends the
    same token, so Greengrass creates it once."""
    request: dict[str, Any] = {"targetArn": target_arn, "components": copy.deepcopy(dict(components))}
    for key in SETTINGS:
        if settings.get(key):
            request[key] = copy.deepcopy(settings[key])
    if latest is not None and _comparable(request) == _comparable(latest):
        return None
    tags = {key: value for key, value in ((latest or {}).get("tags") or {}).items() if not key.startswith("aws:")}
    if tags:
        request["tags"] = tags
    base = latest["deploymentId"] if latest is not None else None
    seed = json.dumps({"base": base, "request": request}, sort_keys=True)
    request["clientToken"] = hashlib.sha256(seed.encode()).hexdigest()
    return request


def _comparable(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two deployments the same: target, settings and components, each merge update parsed (the
    same configuration in other whitespace is no change)."""
    components = {}
    for name, spec in deployment.get("components", {}).items():
        spec = dict(spec)
        update = dict(spec.get("configurationUpdate") or {})
        if update.get("merge"):
            update["merge"] = json.loads(update["merge"])
        spec["configurationUpdate"] = update
        components[name] = spec
    return {
        "targetArn": deployment.get("targetArn"),
        "components": components,
        **{key: deployment.get(key) or None for key in SETTINGS},
    }
