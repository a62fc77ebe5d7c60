"""`make diagram`: render the synthesized app in cdk.out as a PNG with cdk-dia and graphviz.

cdk-dia asks graphviz for orthogonal edges, whose router overflows on a whole site
("Trapezoid-table overflow"); the same graph is then rendered with spline edges.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ASSEMBLY = Path("cdk.out")


def main() -> int:
    target = ASSEMBLY / "diagram.png"
    dot = ASSEMBLY / "diagram.dot"
    command = ["npx", "--no-install", "cdk-dia", "--tree", str(ASSEMBLY / "tree.json"), "--target", str(target)]
    if subprocess.run(command, capture_output=True, text=True, check=False).returncode == 0:
        print(f"wrote {target}")
        return 0
    if not dot.exists():
        print("cdk-dia failed before writing the graph; run `make synth` first", file=sys.stderr)
        return 1
    dot.write_text(dot.read_text(encoding="utf-8").replace('splines = "ortho"', 'splines = "spline"'))
    with target.open("wb") as png:
        rendered = subprocess.run(["dot", str(dot), "-T", "png"], stdout=png, stderr=subprocess.DEVNULL, check=False)
    if rendered.returncode != 0:
        print("graphviz could not render cdk.out/diagram.dot", file=sys.stderr)
        return 1
    print(f"wrote {target} (spline edges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
