"""Seam: the site model's ``edge.canonical_units`` -> both runtime consumers at once.

The same mapping reaches the gateways (the tag pipeline recipe's DefaultConfiguration, against which each tag
map's units are converted) and the Glue jobs (``--site_config``, checked by ``parse_site_config``). A unit
the site model lets through must be one that both accept, or a site synthesizes, passes the gate and then
fails at run time on one side.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dmc_etl.config import SiteConfigError, parse_site_config
from pydantic import ValidationError
from site_templates import SynthesizedSite

from edge.greengrass.build_artifacts import COMPONENTS
from edge.pipeline.tag_map import TagMapError, parse_tag_map
from synth_helpers import example_sites, synth, variant

pytestmark = pytest.mark.synth


def consumers_refusing(synthesized: SynthesizedSite) -> dict[str, str]:
    """Consumer -> its complaint, for each consumer that refuses the site's canonical units."""
    refused = {}
    job = next(iter(synthesized.resources("Data", "AWS::Glue::Job").values()))
    try:
        parse_site_config(synthesized.resolve(job["DefaultArguments"]["--site_config"], "Data"))
    except SiteConfigError as error:
        refused["glue"] = str(error)
    recipes = [
        json.loads(synthesized.resolve(version["InlineRecipe"], "Edge"))
        for version in synthesized.resources("Edge", "AWS::GreengrassV2::ComponentVersion").values()
    ]
    (recipe,) = [recipe for recipe in recipes if recipe["ComponentName"] == COMPONENTS["tag-pipeline"]]
    units = recipe["ComponentConfiguration"]["DefaultConfiguration"]["canonical_units"]
    # A tag map of the gateway: one flow tag in the most common PLC unit, converted to the site's unit.
    site = synthesized.site
    tag_map = {
        "enterprise": site.enterprise,
        "site": site.id,
        "gateway": site.edge.gateways[0],
        "sources": {"simulator": {}},
        "tags": [
            {
                "source": "simulator",
                "address": "analog:pump:mean=2",
                "path": f"{site.lines[0].area}/{site.lines[0].line}/pump/flow",
                "quantity": "flow",
                "unit": "m3/h",
            }
        ],
    }
    try:
        parse_tag_map(tag_map, origin="tag map", canonical_units=units)
    except TagMapError as error:
        refused["gateway"] = str(error)
    return refused


def test_the_canonical_units_of_every_site_are_accepted_by_both_consumers(synthesized: SynthesizedSite) -> None:
    assert consumers_refusing(synthesized) == {}


@pytest.mark.parametrize("flow", ["l/min", "L/min", "gpm", "furlongs/fortnight"])
def test_a_canonical_unit_the_site_model_accepts_is_accepted_by_both_consumers(flow: str, tmp_path: Path) -> None:
    plant_c = example_sites()["plantC"]
    try:
        site = variant(plant_c, edge={"canonical_units": {**plant_c.edge.canonical_units, "flow": flow}})
    except ValidationError:
        return  # the site model refuses the unit: it never reaches a consumer
    _, (stack,) = synth({site.id: site}, tmp_path)
    assert consumers_refusing(SynthesizedSite.read(flow, site, stack, tmp_path)) == {}


def test_the_site_model_refuses_a_canonical_unit_the_shared_table_does_not_know() -> None:
    plant_c = example_sites()["plantC"]
    with pytest.raises(ValidationError, match=r"flow: unit 'l/min' is not known; fix: use one of m3/h, m3/s, L/min"):
        variant(plant_c, edge={"canonical_units": {"flow": "l/min"}})
    with pytest.raises(ValidationError, match=r"speed: unknown quantity; fix: use one of temperature, pressure"):
        variant(plant_c, edge={"canonical_units": {"speed": "m/s"}})
