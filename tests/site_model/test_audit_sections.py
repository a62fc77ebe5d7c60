"""The audit and backup sections of a site file, and who provides each account's region baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from site_model import Site, SiteFileError, load_site, load_sites
from site_model.loader import MAX_TRAILS_PER_REGION, TENANTS_DIR, baseline_problems

PLANT_A = (TENANTS_DIR / "plantA.yaml").read_text()
PLANT_C = (TENANTS_DIR / "plantC.yaml").read_text()


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    return caught.value.problems


def site(text: str, **changes: Any) -> Site:
    """A site from ``text`` (a site file), with top-level fields replaced."""
    return Site.model_validate({**yaml.safe_load(text), **changes})


def renamed(text: str, site_id: str) -> str:
    return text.replace("plantA", site_id).replace("plantC", site_id)


# --- audit: defaults and validation ---------------------------------------------------------------------------


def test_the_trail_is_kept_as_long_as_the_records_and_locked_for_the_audit_window_by_default() -> None:
    sites = load_sites()
    assert (sites["plantA"].trail_days, sites["plantA"].trail_lock_days) == (3650, 2555)
    assert (sites["plantC"].trail_days, sites["plantC"].trail_lock_days) == (1095, None)
    assert sites["plantA"].region_baseline("eu-west-1") and not sites["plantB"].region_baseline("eu-west-1")


def test_explicit_trail_days_and_lock_win() -> None:
    explicit = site(PLANT_C, audit={"region_baseline": ["ap-southeast-1"], "trail_days": 400, "trail_lock_days": 90})
    assert (explicit.trail_days, explicit.trail_lock_days) == (400, 90)


def test_an_audit_trail_sites_trail_must_outlive_its_records(tmp_path: Path) -> None:
    text = PLANT_A.replace("audit:\n", "audit:\n  trail_days: 2555\n")
    assert problems(tmp_path, text) == [
        "audit.trail_days 2555 is shorter than the records it covers are kept (3650 days, lake.retention); "
        "fix: keep the trail at least 3650 days (21 CFR 11.10(e)) or leave trail_days unset"
    ]


def test_the_lock_may_not_outlive_the_trail(tmp_path: Path) -> None:
    text = PLANT_A.replace("audit:\n", "audit:\n  trail_lock_days: 4000\n")
    assert problems(tmp_path, text) == [
        "the trail's Object Lock (4000 days) outlives audit.trail_days 3650; "
        "fix: lower audit.trail_lock_days or keep the trail longer"
    ]


def test_a_region_is_listed_once(tmp_path: Path) -> None:
    text = PLANT_A.replace("region_baseline: [eu-central-1, eu-west-1]", "region_baseline: [eu-west-1, eu-west-1]")
    assert problems(tmp_path, text) == [
        "audit.region_baseline: ['eu-west-1', 'eu-west-1']: a region is listed twice; fix: list each region once"
    ]


# --- backup ---------------------------------------------------------------------------------------------------


def test_the_default_plan_keeps_daily_points_35_days_and_monthly_ones_a_year() -> None:
    rules = load_sites()["plantC"].backup.rules
    assert [(rule.name, rule.frequency, rule.retention_days) for rule in rules] == [
        ("daily", "daily", 35),
        ("monthly", "monthly", 365),
    ]


def test_backup_rules_come_from_the_site_file() -> None:
    rules = load_sites()["plantB"].backup.rules
    assert [(rule.name, rule.retention_days) for rule in rules] == [("daily", 35), ("monthly", 2555)]


def test_backup_rule_names_are_unique(tmp_path: Path) -> None:
    text = PLANT_C + (
        "backup:\n  rules:\n    - {name: daily, frequency: daily, retention_days: 35}\n"
        "    - {name: daily, frequency: weekly, retention_days: 90}\n"
    )
    (problem,) = problems(tmp_path, text)
    assert problem.startswith("backup.rules: [{'name': 'daily'")  # the value, as every refused field shows it
    assert problem.endswith(": rules repeat the name ['daily']; fix: give each rule its own name")


def test_a_backup_frequency_aws_backup_is_not_asked_for_is_refused(tmp_path: Path) -> None:
    text = PLANT_C + "backup:\n  rules:\n    - {name: often, frequency: hourly, retention_days: 7}\n"
    assert [problem.split(":")[0] for problem in problems(tmp_path, text)] == ["backup.rules[0].frequency"]


# --- the region baseline across site files --------------------------------------------------------------------


def test_exactly_one_site_per_account_and_region_provides_the_baseline() -> None:
    assert baseline_problems(load_sites()) == []


def test_two_owners_of_one_region_are_refused_with_both_named(tmp_path: Path) -> None:
    (tmp_path / "plantA.yaml").write_text(PLANT_A)
    (tmp_path / "plantZ.yaml").write_text(renamed(PLANT_A, "plantZ").replace("10.10.0.0/16", "10.11.0.0/16"))
    with pytest.raises(ValueError) as caught:
        load_sites(tmp_path)
    assert str(caught.value).splitlines() == [
        f"{tmp_path}: {region} of the CLI's default account: sites ['plantA', 'plantZ'] all list it in "
        "audit.region_baseline, which would create a second management trail and Config recorder there; "
        f"fix: keep {region} in the audit.region_baseline of exactly one of them"
        for region in ("eu-central-1", "eu-west-1")
    ]


def test_a_region_nobody_owns_is_refused() -> None:
    orphan = site(PLANT_C, audit={"region_baseline": []})
    assert baseline_problems({"plantC": orphan}) == [
        "ap-southeast-1 of the CLI's default account: none of the sites that may be deployed there (['plantC']) "
        "lists it in audit.region_baseline, so nothing records its management events or runs its Config recorder; "
        "fix: add ap-southeast-1 to the audit.region_baseline of exactly one of them"
    ]


def test_sites_in_different_accounts_each_own_their_region() -> None:
    first = site(PLANT_C, account="111111111111")
    second = site(renamed(PLANT_C, "plantD"), account="222222222222")
    assert baseline_problems({"plantC": first, "plantD": second}) == []


def test_at_most_five_sites_share_an_account_and_region() -> None:
    sites = {
        f"plant{index}x": site(
            renamed(PLANT_C, f"plant{index}x"),
            audit={"region_baseline": ["ap-southeast-1"] if index == 0 else []},
        )
        for index in range(MAX_TRAILS_PER_REGION + 1)
    }
    assert baseline_problems(sites) == [
        "ap-southeast-1 of the CLI's default account: 6 sites (['plant0x', 'plant1x', 'plant2x', 'plant3x', "
        "'plant4x', 'plant5x']) may be deployed there, each with its own trail, and CloudTrail allows 5 per account "
        "and region; fix: put some in another account"
    ]
