from pathlib import Path

import pytest

from site_model import SiteFileError, load_site, load_sites
from site_model.loader import TENANTS_DIR
from site_model.schema import render

PLANT_A = (TENANTS_DIR / "plantA.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    return caught.value.problems


def test_every_example_site_loads() -> None:
    sites = load_sites()
    assert sorted(sites) == ["plantA", "plantB", "plantC"]
    assert sites["plantA"].data_regions == ["eu-central-1", "eu-west-1"]
    assert sites["plantA"].compliance == ["gdpr", "eu-gmp-annex-11"]
    assert sites["plantB"].compliance == ["fda-21-cfr-part-11"]
    assert sites["plantC"].compliance == ["none"]
    assert sites["plantA"].audit_trail and sites["plantB"].audit_trail and not sites["plantC"].audit_trail


def test_unknown_key_is_named_with_its_fix(tmp_path: Path) -> None:
    path = write(tmp_path, PLANT_A.replace("network:\n", "network:\n  vpn: true\n"))
    assert problems(path) == [
        "network.vpn: is not a known field (got True); fix: remove it or check its spelling against tenants/schema.json"
    ]


def test_bad_cidr_names_field_value_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, PLANT_A.replace("10.10.0.0/16", "10.10.0.0/33"))
    assert problems(path) == [
        "network.cidr: '10.10.0.0/33': not a valid IPv4 CIDR block; fix: use a network address such as 10.10.0.0/16"
    ]


def test_region_outside_residency_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, PLANT_A.replace("data_regions: [eu-central-1, eu-west-1]", "data_regions: [eu-west-1]"))
    assert problems(path) == [
        "home_region 'eu-central-1' is not among data_regions ['eu-west-1']; fix: add it to data_regions",
        "audit.region_baseline has ['eu-central-1'], outside data_regions ['eu-west-1']; "
        "fix: list only regions the site may be deployed to",
    ]


def test_gdpr_site_cannot_keep_data_outside_the_eu(tmp_path: Path) -> None:
    path = write(tmp_path, PLANT_A.replace("[eu-central-1, eu-west-1]", "[eu-central-1, us-east-1]"))
    assert problems(path) == [
        "gdpr sites keep data in the EU but data_regions has ['us-east-1']; fix: use only eu-* regions"
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = PLANT_A.replace("10.10.0.0/16", "300.1.0.0/16").replace("az_count: 2", "az_count: 9")
    text = text.replace("timezone: Europe/Berlin", "timezone: Mars/Olympus")
    found = problems(write(tmp_path, text))
    assert [problem.split(":")[0] for problem in found] == ["timezone", "network.cidr", "network.az_count"]


def test_audit_trail_regime_requires_object_lock(tmp_path: Path) -> None:
    path = write(tmp_path, PLANT_A.replace("  object_lock_days: 2555\n", ""))
    assert problems(path) == [
        "fda-21-cfr-part-11 and eu-gmp-annex-11 need an immutable raw zone; "
        "fix: set lake.object_lock_days (e.g. 2555 for 7 years)"
    ]


def test_empty_file(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "")) == ["is empty; fix: describe the site (copy tenants/plantC.yaml as a start)"]


def test_yaml_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "id: plantX\nnetwork: {cidr: 10.0.0.0/16\n")
    assert problems(path) == [
        "is not valid YAML at line 3, column 1: expected ',' or '}', but got '<stream end>'; "
        "fix: correct the syntax there"
    ]


def test_error_message_starts_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(SiteFileError, match=rf"^{path}: is empty"):
        load_site(path)


def test_duplicate_site_id_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, PLANT_A, "plantA.yaml")
    write(tmp_path, PLANT_A, "plantA-copy.yaml")
    with pytest.raises(ValueError) as caught:
        load_sites(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'plantA.yaml'}: id: 'plantA' is already used by {tmp_path / 'plantA-copy.yaml'}; "
        "fix: give every site a unique id"
    )


def test_broken_files_are_all_reported_and_none_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "", "a.yaml")
    write(tmp_path, "id: [", "b.yaml")
    write(tmp_path, PLANT_A, "plantA.yaml")
    with pytest.raises(ValueError) as caught:
        load_sites(tmp_path)
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]


def test_schema_file_is_current() -> None:
    assert (TENANTS_DIR / "schema.json").read_text() == render(), "run `make schema`"
