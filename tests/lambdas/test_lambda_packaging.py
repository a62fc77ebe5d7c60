"""Both handlers import from an asset laid out as Lambda sees it: handler package + envelope/, nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter whose path holds only the asset and the installed packages (boto3).
PROBE = """
import sys
sys.path[:] = [p for p in sys.path if p not in ("", {root!r})]
sys.path.insert(0, {asset!r})
import alert_handler.handler, transform_handler.handler
assert callable(alert_handler.handler.handler) and callable(transform_handler.handler.handler)
heavy = {{"factory_constructs", "site_model", "aws_cdk", "pydantic", "yaml"}}
print(sorted(name for name in sys.modules if name.split(".")[0] in heavy))
"""


def test_handlers_import_from_an_asset_with_the_envelope_beside_them(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "factory_constructs/alerts/alert_handler", tmp_path / "alert_handler")
    shutil.copytree(ROOT / "factory_constructs/ingestion/transform_handler", tmp_path / "transform_handler")
    shutil.copytree(ROOT / "envelope", tmp_path / "envelope")

    probe = PROBE.format(root=str(ROOT), asset=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # no project module beyond the envelope, no CDK, no pydantic
