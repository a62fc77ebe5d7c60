"""The spool is durable on power loss unless a deployment says otherwise: fsync from the real defaults."""

from __future__ import annotations

import copy
from pathlib import Path

from component_configs import GATEWAY, TAG_MAP, defaults

from edge.greengrass import tag_pipeline
from edge.pipeline.runner import Runner
from edge.pipeline.spool import Spool
from envelope.tag_envelope import MAX_MESSAGE_BYTES


class _NoTransport:
    """The runner is built, never run: nothing is published."""

    async def connect(self) -> None:
        raise AssertionError("not started")

    async def publish(self, topic: str, payload: bytes) -> None:
        raise AssertionError("not started")

    async def close(self) -> None:
        pass


def test_the_spool_flushes_every_commit_unless_told_not_to(tmp_path: Path) -> None:
    durable = Spool(tmp_path / "default.db", max_bytes=2 * MAX_MESSAGE_BYTES)
    fast = Spool(tmp_path / "fast.db", max_bytes=2 * MAX_MESSAGE_BYTES, fsync=False)
    try:
        assert (durable.fsync, fast.fsync) == (True, False)
    finally:
        durable.close()
        fast.close()


def test_the_recipe_defaults_give_the_pipeline_a_durable_spool(tmp_path: Path) -> None:
    # The DefaultConfiguration the build writes into the recipe, plus only what every deployment must add.
    configuration = {**defaults("com.dmc.TagPipeline"), "tag_maps": {GATEWAY: copy.deepcopy(TAG_MAP)}}
    assert "spool_fsync" not in configuration["runner"]  # decided by the code's default, in one place

    plan = tag_pipeline.plan(configuration, GATEWAY, tmp_path)
    assert plan.runner.spool_fsync is True
    runner = Runner(plan.tag_map, plan.runner, sources=plan.sources, transport=_NoTransport())
    try:
        assert runner.spool.fsync is True
        assert runner.spool.path == tmp_path / "spool.db"
    finally:
        runner.spool.close()


def test_a_deployment_can_trade_durability_for_fewer_flushes(tmp_path: Path) -> None:
    configuration = {
        **defaults("com.dmc.TagPipeline"),
        "tag_maps": {GATEWAY: copy.deepcopy(TAG_MAP)},
        "runner": {"spool_fsync": False},
    }
    plan = tag_pipeline.plan(configuration, GATEWAY, tmp_path)
    assert plan.runner.spool_fsync is False
