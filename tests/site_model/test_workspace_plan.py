"""make plan's ML workspace lines against figures worked out by hand, and the facts it shares with the stacks."""

from __future__ import annotations

from typing import get_args

import pytest

from factory_constructs.foundation.network import ML_INTERFACE_ENDPOINTS
from factory_constructs.ml.idle_shutdown.idle_shutdown import CHECK_INTERVAL_S
from site_model import load_sites
from site_model.model import WorkspaceInstanceType
from site_model.plan import (
    IDLE_CHECK_INTERVAL_MINUTES,
    ML_ENDPOINTS_PER_ZONE,
    WORKSPACE_PRICES,
    main,
    workspace_costs,
)

SITES = load_sites()

# plantA: 2 zones, 2 analysts, 60 idle minutes, ml.t3.medium, 40 active hours a month each.
#
#   endpoint-hours = 6 endpoints x 2 zones x 730 h         =  8,760  x $0.01 =  $87.60
#   app-hours      = 2 x (40 + 21 sessions x (60 + 1) / 60) = 2 x 61.35 = 122.7 x $0.05 = $6.135
#   workspace                                                                      $93.735


def test_plant_a_workspace_cost_line_by_line() -> None:
    endpoints, apps = workspace_costs(SITES["plantA"])
    assert (endpoints.service, endpoints.item) == ("VPC", "ML interface endpoint-hours")
    assert endpoints.unit == "endpoint-hour"
    assert endpoints.quantity == 8760
    assert endpoints.monthly_usd == pytest.approx(87.60)
    assert (apps.service, apps.item, apps.unit) == ("SageMaker", "JupyterLab ml.t3.medium app-hours", "instance-hour")
    assert apps.quantity == pytest.approx(122.7)
    assert apps.monthly_usd == pytest.approx(6.135)


def test_a_site_without_the_workspace_pays_nothing_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert workspace_costs(SITES["plantC"]) == []
    assert main(["plantC"]) == 0
    assert "ML workspace" not in capsys.readouterr().out


def test_the_cli_shows_the_workspace_arithmetic_and_the_site_total(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plantA"]) == 0
    out = capsys.readouterr().out
    for step in (
        "endpoint-hours = 6 endpoints x 2 zones x 730 h = 8,760",
        "= 40 + 21 x 61 / 60 = 61.35, x 2 analysts",
        "(the idle shutdown ends a forgotten app 61 minutes after its last activity)",
        "$     93.74",
        "site total (streaming + workspace) = $739.41 per month",  # 645.67 streaming + 93.735
    ):
        assert step in out


def test_the_plan_counts_the_endpoints_and_the_check_interval_the_stacks_and_the_apps_use() -> None:
    assert len(ML_INTERFACE_ENDPOINTS) + 1 == ML_ENDPOINTS_PER_ZONE  # and the S3 interface endpoint
    assert IDLE_CHECK_INTERVAL_MINUTES * 60 == CHECK_INTERVAL_S


def test_every_instance_type_a_site_may_choose_has_a_price() -> None:
    assert sorted(WORKSPACE_PRICES.jupyterlab_instance_hour) == sorted(get_args(WorkspaceInstanceType))
