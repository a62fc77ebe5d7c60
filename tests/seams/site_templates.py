"""A synthesized site's templates, and CloudFormation values resolved into plausible deploy-time strings.

(A module with its own name, not conftest, so that the seam test modules can import it.)

Values in a template hold intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``) where CloudFormation
fills in a physical name or ARN at deploy time. ``SynthesizedSite.resolve`` replaces each with a fake that
still says what it points at: ``ref-<logical id>`` for a ``Ref``, ``arn:aws:fake:<region>:<account>:<logical
id>/<attribute>`` for a ``Fn::GetAtt``. A ``Ref`` to a nested stack's parameter is followed through the
parent stack and the sibling's outputs to the resource that produces it, as CloudFormation does, so
``points_at`` can tell which resource a consumer would be handed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import NestedStack, Stack

from site_model import Site

ACCOUNT = "123456789012"
TOP = "Site"  # the key of the top-level stack's template; nested stacks go by their construct id
# Integration only where the site has features.integration_api.
NESTED = ("Foundation", "Data", "Edge", "Integration")
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_GET_ATT = re.compile(r"^arn:aws:fake:[^:]*:\d{12}:(?P<id>[A-Za-z0-9]+)/(?P<attribute>.+)$")


@dataclass(frozen=True)
class SynthesizedSite:
    """One site synthesized under the gate: its model, its region and every template of its stack."""

    name: str  # the fixture's name: the site id, or "custom" for the customised site
    site: Site
    region: str
    assembly: Path
    templates: dict[str, dict[str, Any]]  # TOP or a nested stack's construct id -> template
    nested_resources: dict[str, str]  # logical id of a nested stack resource in TOP -> the nested stack's id

    @classmethod
    def read(cls, name: str, site: Site, stack: Stack, assembly: Path) -> SynthesizedSite:
        files = {TOP: stack.template_file}
        nested_resources = {}
        for child in NESTED:
            nested = stack.node.try_find_child(child)
            if nested is None:
                continue
            assert isinstance(nested, NestedStack)
            files[child] = nested.template_file
            assert nested.nested_stack_resource is not None
            nested_resources[stack.get_logical_id(nested.nested_stack_resource)] = child
        templates = {key: json.loads((assembly / file).read_text(encoding="utf-8")) for key, file in files.items()}
        return cls(name, site, stack.region, assembly, templates, nested_resources)

    def resources(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        """Logical id -> properties of every resource of ``kind`` in one template."""
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.templates[stack].get("Resources", {}).items()
            if resource["Type"] == kind
        }

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` of template ``stack`` with every intrinsic replaced by a plausible string."""
        if isinstance(value, list):
            return [self.resolve(item, stack) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (function, argument), *_ = value.items()
            if function == "Ref":
                return self._ref(argument, stack)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._get_att(logical_id, attribute, stack)
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part, stack)) for part in parts)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                filled = _SUB.sub(lambda match: str(self._sub(match.group(1), variables, stack)), text)
                return filled.replace("${!", "${")  # ${!Literal} is the escape of a literal ${Literal}
            if function.startswith("Fn::"):
                raise NotImplementedError(f"{function} in template {stack}: teach SynthesizedSite.resolve about it")
        return {key: self.resolve(item, stack) for key, item in value.items()}

    def points_at(self, resolved: str) -> tuple[str, str]:
        """(resource type, "Ref" or the attribute) that a resolved value came from."""
        match = _GET_ATT.match(resolved)
        logical_id, attribute = (match["id"], match["attribute"]) if match else (resolved.removeprefix("ref-"), "Ref")
        kinds = {
            template["Resources"][logical_id]["Type"]
            for template in self.templates.values()
            if logical_id in template.get("Resources", {})
        }
        assert len(kinds) == 1, f"{resolved!r} names no single resource of the site ({sorted(kinds)})"
        return kinds.pop(), attribute

    def _ref(self, name: str, stack: str) -> str:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"{self.site.id}-{stack}",
        }
        if name in pseudo:
            return pseudo[name]
        template = self.templates[stack]
        if name in template.get("Parameters", {}) and stack != TOP:
            # A nested stack's parameter: the value the parent passes to it.
            passed = self._nested_stack_resource(stack)["Properties"]["Parameters"][name]
            return str(self.resolve(passed, TOP))
        return f"ref-{name}"

    def _get_att(self, logical_id: str, attribute: str, stack: str) -> str:
        if stack == TOP and logical_id in self.nested_resources and attribute.startswith("Outputs."):
            child = self.nested_resources[logical_id]
            output = self.templates[child]["Outputs"][attribute.removeprefix("Outputs.")]
            return str(self.resolve(output["Value"], child))
        return f"arn:aws:fake:{self.region}:{ACCOUNT}:{logical_id}/{attribute}"

    def _sub(self, name: str, variables: dict[str, Any], stack: str) -> Any:
        if name in variables:
            return self.resolve(variables[name], stack)
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self._get_att(logical_id, attribute, stack)
        return self._ref(name, stack)

    def _nested_stack_resource(self, child: str) -> dict[str, Any]:
        (logical_id,) = [key for key, value in self.nested_resources.items() if value == child]
        return self.templates[TOP]["Resources"][logical_id]
