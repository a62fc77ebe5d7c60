"""The idle check a JupyterLab app of the workspace runs, and the lifecycle script that installs it there.

Standard library only: the tests of the program and the script run without the CDK.
"""

from __future__ import annotations

from pathlib import Path

IDLE_SHUTDOWN = Path(__file__).resolve().parent


def lifecycle_script(idle_minutes: int, region: str) -> str:
    """The JupyterLab lifecycle configuration's script: writes ``idle_shutdown.py`` into the app and starts it."""
    template = (IDLE_SHUTDOWN / "on_start.sh").read_text(encoding="utf-8")
    program = (IDLE_SHUTDOWN / "idle_shutdown.py").read_text(encoding="utf-8")
    return (
        template.replace("@PROGRAM@", program.rstrip("\n"))
        .replace("@IDLE_MINUTES@", str(idle_minutes))
        .replace("@REGION@", region)
    )
