"""The site file's ml section: analysts become workspace profiles; every problem named with its fix."""

from pathlib import Path

import pytest

from site_model import SiteFileError, load_site, load_sites
from site_model.loader import TENANTS_DIR

PLANT_A = (TENANTS_DIR / "plantA.yaml").read_text()
ANALYSTS = """    - {name: anna-keller, email: anna.keller@acme.example}
    - {name: jonas-weber, email: jonas.weber@acme.example}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    return caught.value.problems


def test_plant_a_names_its_analysts_and_plant_c_has_no_workspace() -> None:
    sites = load_sites()
    ml = sites["plantA"].ml
    assert sites["plantA"].features.ml_workspace
    assert [(analyst.name, analyst.email) for analyst in ml.analysts] == [
        ("anna-keller", "anna.keller@acme.example"),
        ("jonas-weber", "jonas.weber@acme.example"),
    ]
    assert (ml.idle_shutdown_minutes, ml.instance_type, ml.active_hours_per_analyst) == (60, "ml.t3.medium", 40)
    assert not sites["plantC"].features.ml_workspace
    assert sites["plantC"].ml.analysts == []


def test_a_name_sagemaker_refuses_is_named_with_its_fix(tmp_path: Path) -> None:
    text = PLANT_A.replace("name: anna-keller", "name: anna_keller")
    assert problems(tmp_path, text) == [
        "ml.analysts[0].name: 'anna_keller': not a SageMaker user profile name; fix: use 1-63 letters, digits and "
        "hyphens, starting and ending with a letter or digit"
    ]


def test_an_analyst_listed_twice_is_refused_ignoring_case(tmp_path: Path) -> None:
    twice = ANALYSTS + "    - {name: Anna-Keller, email: Anna.Keller@acme.example}\n"
    assert problems(tmp_path, PLANT_A.replace(ANALYSTS, twice)) == [
        "ml: analysts repeat the name ['anna-keller'] (ignoring case); fix: list each analyst once",
        "ml: analysts repeat the email ['anna.keller@acme.example'] (ignoring case); fix: list each analyst once",
    ]


def test_analysts_without_the_workspace_are_refused(tmp_path: Path) -> None:
    text = PLANT_A.replace("  ml_workspace: true", "  ml_workspace: false")
    assert problems(tmp_path, text) == [
        "ml.analysts are listed but features.ml_workspace is false; "
        "fix: set features.ml_workspace: true or remove ml.analysts"
    ]


def test_an_instance_type_without_a_price_and_a_short_timeout_are_refused(tmp_path: Path) -> None:
    text = PLANT_A.replace("idle_shutdown_minutes: 60", "idle_shutdown_minutes: 5").replace(
        "instance_type: ml.t3.medium", "instance_type: ml.p4d.24xlarge"
    )
    assert problems(tmp_path, text) == [
        "ml.idle_shutdown_minutes: Input should be greater than or equal to 15 (got 5); fix: use a larger number",
        "ml.instance_type: Input should be 'ml.t3.medium', 'ml.t3.large', 'ml.m5.large' or 'ml.m5.xlarge' "
        "(got 'ml.p4d.24xlarge'); fix: use one of the values shown",
    ]
