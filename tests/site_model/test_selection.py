import pytest

from site_model import load_sites
from site_model.selection import SelectionError, select

SITES = load_sites()


def test_no_site_selects_every_site_in_its_home_region() -> None:
    assert [(site.id, region) for site, region in select(SITES, None, None)] == [
        ("plantA", "eu-central-1"),
        ("plantB", "us-east-1"),
        ("plantC", "ap-southeast-1"),
    ]


def test_site_alone_selects_its_home_region() -> None:
    assert [(site.id, region) for site, region in select(SITES, "plantA", None)] == [("plantA", "eu-central-1")]


def test_site_in_another_allowed_region() -> None:
    assert [(site.id, region) for site, region in select(SITES, "plantA", "eu-west-1")] == [("plantA", "eu-west-1")]


def test_region_outside_the_sites_data_regions_is_refused() -> None:
    with pytest.raises(SelectionError) as caught:
        select(SITES, "plantA", "us-east-1")
    assert str(caught.value) == (
        "site 'plantA' may not be deployed to us-east-1: its data may reside only in eu-central-1, eu-west-1; "
        "fix: use -c region=<one of those> or extend data_regions in its site file"
    )


def test_unknown_site_lists_the_known_ones() -> None:
    with pytest.raises(SelectionError) as caught:
        select(SITES, "plantZ", None)
    assert str(caught.value) == (
        "unknown site 'plantZ'; fix: use one of plantA, plantB, plantC or add tenants/plantZ.yaml"
    )


def test_region_without_site_is_refused() -> None:
    with pytest.raises(SelectionError, match=r"-c region=eu-west-1 needs -c site=<site>"):
        select(SITES, None, "eu-west-1")
