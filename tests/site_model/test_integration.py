"""The site file's integration section: API limits, and the KPI destination bus that must stay in the site's
data regions."""

from pathlib import Path

import pytest

from site_model import SiteFileError, load_site
from site_model.loader import TENANTS_DIR

PLANT_A = (TENANTS_DIR / "plantA.yaml").read_text()
KPI_BUS_IN = "arn:aws:events:{region}:210987654321:event-bus/command-center"


def with_integration(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(PLANT_A.replace("tags:\n  cost_centre", f"integration:\n{section}tags:\n  cost_centre"))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    return caught.value.problems


def test_defaults_bound_the_api_and_forward_nothing() -> None:
    integration = load_site(TENANTS_DIR / "plantA.yaml").integration
    assert integration.model_dump() == {
        "max_range_days": 31,
        "page_limit_max": 1000,
        "rate_limit_per_s": 100,
        "burst_limit": 200,
        "waf_requests_per_ip": 3000,
        "query_scan_limit_gb": 10,
        "kpi_destination_bus_arn": None,
    }


def test_a_kpi_bus_in_one_of_the_data_regions_is_accepted(tmp_path: Path) -> None:
    arn = KPI_BUS_IN.format(region="eu-west-1")
    site = load_site(with_integration(tmp_path, f"  kpi_destination_bus_arn: {arn}\n  page_limit_max: 200\n"))
    assert (site.integration.kpi_destination_bus_arn, site.integration.page_limit_max) == (arn, 200)


def test_a_kpi_bus_outside_the_data_regions_is_refused_with_its_fix(tmp_path: Path) -> None:
    arn = KPI_BUS_IN.format(region="us-east-1")
    assert problems(with_integration(tmp_path, f"  kpi_destination_bus_arn: {arn}\n")) == [
        "integration.kpi_destination_bus_arn is in 'us-east-1', outside data_regions "
        "['eu-central-1', 'eu-west-1']; fix: send KPI summaries to a bus in one of the site's data regions"
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:eu-west-1:210987654321:command-center",
        "arn:aws:events:eu-west-1:2109:event-bus/command-center",
        "arn:aws:events:eu-west-1:210987654321:rule/command-center",
    ],
    ids=["another service", "a short account", "a rule"],
)
def test_anything_but_an_event_bus_arn_is_refused(tmp_path: Path, arn: str) -> None:
    assert problems(with_integration(tmp_path, f"  kpi_destination_bus_arn: {arn}\n")) == [
        f"integration.kpi_destination_bus_arn: {arn!r}: not an EventBridge event bus ARN; "
        "fix: use arn:aws:events:<region>:<account>:event-bus/<name>"
    ]


def test_a_limit_above_the_documents_ceiling_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(with_integration(tmp_path, "  page_limit_max: 5000\n"))
    assert problem.startswith("integration.page_limit_max: ")
    assert "5000" in problem
