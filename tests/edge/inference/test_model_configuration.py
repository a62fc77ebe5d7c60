"""The ``models`` key of com.dmc.TagPipeline: its defaults, its checks, and a model that fails after acceptance."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MACHINES, NAME
from model_versions import GATEWAY, tag_map_data

from edge.greengrass.build_artifacts import ROOT
from edge.greengrass.config import ConfigurationError, TagPipelineConfig, parse
from edge.greengrass.tag_pipeline import COMPONENT, PipelineHost, plan
from envelope.tag_envelope import decode
from ml.model_card import content_version
from ml.training.train import TrainedModel, write_model
from tests.edge.greengrass.component_configs import defaults
from tests.edge.greengrass.greengrass_fakes import FakeIpc, FakeStreamManager


def configuration(models: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    return {**defaults(COMPONENT), "tag_maps": {GATEWAY: tag_map_data(MACHINES)}, "models": models, **keys}


def problems(configuration: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigurationError) as refused:
        parse(TagPipelineConfig, configuration)
    return refused.value.problems


def test_the_recipe_scores_nothing_until_a_deployment_names_models() -> None:
    config = parse(TagPipelineConfig, configuration(defaults(COMPONENT)["models"]))
    assert (config.models, config.score_interval_s) == ([], 10)


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        (
            [{"name": NAME, "artifactDir": "packages/artifacts/x"}],
            "models[0]: artifactDir 'packages/artifacts/x' is relative; fix: write the absolute path on the gateway",
        ),
        (
            [{"name": NAME, "artifactDir": "{com.dmc.Model.filler-anomaly:artifacts:path}"}],
            "models[0]: artifactDir '{com.dmc.Model.filler-anomaly:artifacts:path}' holds a recipe variable the "
            "nucleus did not resolve; fix: set interpolateComponentConfiguration: true on aws.greengrass.Nucleus, "
            "or write the absolute path of the model component's artifacts",
        ),
        (
            [{"name": NAME, "artifactDir": "/a"}, {"name": NAME, "artifactDir": "/b"}],
            f"models lists {NAME!r} twice; fix: list each model once, with the artifactDir of the version to run",
        ),
        ([{"name": NAME}], "models[0].artifactDir: Field required; fix: add the key"),
        (
            [{"name": "filler anomaly", "artifactDir": "/a"}],
            "models[0].name: String should match pattern '^[A-Za-z0-9-]+$' (got 'filler anomaly'); "
            "fix: write a value matching the pattern shown",
        ),
    ],
)
def test_model_entries_are_checked(models: list[dict[str, Any]], problem: str) -> None:
    assert problems(configuration(models)) == [problem]


def test_a_gateway_without_models_loads_neither_onnxruntime_nor_numpy(tmp_path: Path) -> None:
    probe = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from edge.greengrass.tag_pipeline import plan",
            f"plan({configuration([])!r}, {GATEWAY!r}, Path({str(tmp_path)!r}))",
            "print(sorted(name for name in ('onnxruntime', 'numpy') if name in sys.modules))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]"]


def test_a_model_that_fails_after_acceptance_is_logged_and_the_pipeline_runs_without_it(
    tmp_path: Path, model: TrainedModel, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "v1"
    write_model(model, folder)
    card = model.card
    overwritten = b"overwritten after the deployment was accepted"
    (folder / "model.onnx").write_bytes(overwritten)
    config = configuration([{"name": NAME, "artifactDir": str(folder)}], runner={"linger_s": 0.05, "tick_s": 0.05})
    refusal = (
        f"models[0] model-card.json: version: card says {card.version!r} but model.onnx hashes to "
        f"{content_version(overwritten)!r}"
    )

    checked = plan(config, GATEWAY, tmp_path)
    assert checked.models == () and checked.model_problems[0].startswith(refusal)
    ipc = FakeIpc(config)
    host = PipelineHost(ipc, GATEWAY, tmp_path, FakeStreamManager)
    with pytest.raises(ConfigurationError) as refused:
        host.check(config)  # a deployment naming it is refused ...
    assert refused.value.problems == list(checked.model_problems)

    async def scenario() -> None:  # ... but a gateway that already runs it keeps collecting
        stop = asyncio.Event()
        serving = asyncio.create_task(host.serve(stop))
        while not [payload for topic, _, payload in ipc.published if topic.endswith("/telemetry")]:
            await asyncio.sleep(0.02)
        stop.set()
        await serving

    caplog.set_level(logging.INFO, logger="edge.greengrass.tag_pipeline")
    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert host.stage is None
    assert {decode(payload)["kind"] for topic, _, payload in ipc.published if topic.endswith("/telemetry")} == {"tags"}
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert errors == [f"model refused, {checked.model_problems[0]}"]
