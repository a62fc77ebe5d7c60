"""Seam: the site model -> the Glue jobs' ``--site_config`` argument (the Data stack's template) -> the jobs.

The producer's real output, the DefaultArguments of each AWS::Glue::Job, is fed to the parser the job runs
first (``dmc_etl.config.parse_site_config``), which refuses unknown and missing keys.
"""

from __future__ import annotations

import json
from datetime import time

import pytest
from dmc_etl.config import LineConfig, Shift, SiteConfig, parse_site_config
from dmc_etl.jobs import (
    CONFORMED_TO_CURATED_ARGUMENTS,
    CONFORMED_TO_CURATED_OPTIONAL,
    RAW_TO_CONFORMED_ARGUMENTS,
    RAW_TO_CONFORMED_OPTIONAL,
)
from site_templates import SynthesizedSite

from factory_constructs.etl.etl_jobs import GLUE_JOBS  # the folder the construct ships the scripts from
from site_model import Site

pytestmark = pytest.mark.synth

# Arguments Glue itself reads (job parameters of the Glue runtime), not the scripts.
GLUE_PARAMETERS = {
    "--conf",
    "--datalake-formats",
    "--enable-continuous-cloudwatch-log",
    "--enable-metrics",
    "--enable-observability-metrics",
    "--extra-py-files",
    "--job-bookmark-option",
    "--job-language",
}
# The entry script of each job -> the arguments it asks getResolvedOptions for (required, optional).
SCRIPTS = {
    "raw_to_conformed.py": (RAW_TO_CONFORMED_ARGUMENTS, RAW_TO_CONFORMED_OPTIONAL),
    "conformed_to_curated.py": (CONFORMED_TO_CURATED_ARGUMENTS, CONFORMED_TO_CURATED_OPTIONAL),
}


def jobs(synthesized: SynthesizedSite) -> dict[str, dict]:
    """Entry script name -> the properties of the Glue job that runs it, told apart by the script's bytes."""
    manifest = synthesized.assembly / f"{synthesized.site.id}.assets.json"
    files = json.loads(manifest.read_text())["files"]
    found: dict[str, dict] = {}
    for properties in synthesized.resources("Data", "AWS::Glue::Job").values():
        location = synthesized.resolve(properties["Command"]["ScriptLocation"], "Data")
        asset = files[location.rsplit("/", 1)[-1].removesuffix(".py")]
        staged = (synthesized.assembly / asset["source"]["path"]).read_bytes()
        (script,) = [name for name in SCRIPTS if (GLUE_JOBS / name).read_bytes() == staged]
        assert script not in found, f"two jobs run {script}"
        found[script] = properties
    return found


def expected_config(site: Site) -> SiteConfig:
    """What the jobs must see, written from the site model independently of the producer."""

    def clock(text: str) -> time:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))

    return SiteConfig(
        timezone=site.timezone,
        canonical_units=dict(site.edge.canonical_units),
        lines=tuple(
            LineConfig(
                line_path=f"{site.enterprise}/{site.id}/{line.area}/{line.line}",
                ideal_cycle_time_s=line.ideal_cycle_time_s,
                state_tag=line.state_tag,
                running_states=tuple(line.running_states),
                good_count_tag=line.good_count_tag,
                total_count_tag=line.total_count_tag,
                shifts=tuple(Shift(shift.name, clock(shift.start), clock(shift.end)) for shift in line.shifts),
            )
            for line in site.lines
        ),
    )


def test_each_job_script_runs_in_exactly_one_job(synthesized: SynthesizedSite) -> None:
    assert sorted(jobs(synthesized)) == sorted(SCRIPTS)


def test_site_config_of_every_job_parses_into_the_site_models_values(synthesized: SynthesizedSite) -> None:
    for script, properties in jobs(synthesized).items():
        argument = synthesized.resolve(properties["DefaultArguments"]["--site_config"], "Data")
        assert isinstance(argument, str), script
        assert parse_site_config(argument) == expected_config(synthesized.site), script


def test_shifts_and_lines_arrive_in_the_site_files_order(synthesized: SynthesizedSite) -> None:
    properties = jobs(synthesized)["conformed_to_curated.py"]
    config = parse_site_config(synthesized.resolve(properties["DefaultArguments"]["--site_config"], "Data"))
    site = synthesized.site
    assert [line.line_path for line in config.lines] == [site.line_path(line) for line in site.lines]
    assert [[shift.name for shift in line.shifts] for line in config.lines] == [
        [shift.name for shift in line.shifts] for line in site.lines
    ]


def test_every_argument_a_job_requires_is_passed(synthesized: SynthesizedSite) -> None:
    for script, properties in jobs(synthesized).items():
        required, optional = SCRIPTS[script]
        passed = {name.removeprefix("--") for name in properties["DefaultArguments"]}
        assert set(required) - passed == set(), script
        assert all(synthesized.resolve(properties["DefaultArguments"][f"--{name}"], "Data") for name in required)
        # An optional argument, when passed, must hold a value getResolvedOptions can return.
        assert all(properties["DefaultArguments"][f"--{name}"] for name in optional if name in passed), script


def test_every_argument_passed_to_a_job_is_one_glue_or_the_job_reads(synthesized: SynthesizedSite) -> None:
    """A stale argument (e.g. a path the job no longer reads) would be ignored silently."""
    for script, properties in jobs(synthesized).items():
        required, optional = SCRIPTS[script]
        passed = set(properties["DefaultArguments"]) - GLUE_PARAMETERS
        assert passed <= {f"--{name}" for name in (*required, *optional)}, script
