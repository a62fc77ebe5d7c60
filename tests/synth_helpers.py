"""Synthesizes sites in-process (the fast path: no CLI), for stack and gate tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, NestedStack, Stack
from aws_cdk.assertions import Template

from site_model import Site, load_sites
from stacks.site_app import build, new_app
from stacks.site_stack import SiteStack


def example_sites() -> dict[str, Site]:
    return load_sites()


def variant(site: Site, **changes: Any) -> Site:
    """A copy of ``site`` with nested fields changed, e.g. variant(site, network={"nat_gateways": 0})."""
    data = site.model_dump()
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Site.model_validate(data)


def synth(sites: dict[str, Site], outdir: Path, **context: str) -> tuple[App, list[SiteStack]]:
    """Build and synthesize ``sites`` with the compliance gate; raises if any finding is unacknowledged."""
    app = new_app(outdir=str(outdir), context=context)
    stacks = build(app, sites)
    app.synth()
    return app, stacks


def nested_template(stack: Stack, child_id: str) -> Template:
    nested = stack.node.find_child(child_id)
    assert isinstance(nested, NestedStack)
    return Template.from_stack(nested)


def rendered(value: Any) -> Any:
    """``value`` of a template with each ``Ref`` written ``<Id>`` and each ``Fn::GetAtt`` ``<Id.Attribute>``, and
    each ``Fn::Join`` joined: what a JSON text built with ``stack.to_json_string`` reads like, to parse it."""
    if isinstance(value, list):
        return [rendered(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    if set(value) == {"Fn::GetAtt"}:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(rendered(part)) for part in parts)
    return {key: rendered(item) for key, item in value.items()}
