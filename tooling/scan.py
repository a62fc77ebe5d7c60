"""`make scan`: checkov (the second scanner, in its own virtual environment) over every site's templates.

python -m tooling.scan [--assembly DIR ...]

Without ``--assembly`` it synthesizes every site of tenants/ in this process (under the gate), each into
cdk.out/scan/<site>, and scans those. A failed check passes only when policies/scan_acknowledgments.py
acknowledges it with a reason; an acknowledgment that matches no failed check fails too, so the file stays
true. Exit 1 on either.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.scan_acknowledgments import ACKNOWLEDGED, ScanAcknowledgment

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
OUTDIR = ROOT / "cdk.out" / "scan"


@dataclass(frozen=True)
class Failure:
    check: str
    name: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check} {self.resource} ({self.file}): {self.name}"


@dataclass(frozen=True)
class ScanResult:
    passed: int
    failures: list[Failure]
    unacknowledged: list[Failure]
    stale: list[ScanAcknowledgment]

    @property
    def clean(self) -> bool:
        return not self.unacknowledged and not self.stale


def checkov_failures(assembly: Path, checkov: Path = CHECKOV) -> tuple[int, list[Failure]]:
    """checkov's CloudFormation checks over the templates of one cloud assembly: (passed, failed)."""
    if not checkov.exists():
        raise FileNotFoundError(f"{checkov} is missing; fix: run `make setup` (it installs requirements-scan.txt)")
    templates = sorted(str(path) for path in assembly.glob("*.template.json"))
    if not templates:
        raise FileNotFoundError(f"no templates in {assembly}; fix: synthesize the site first")
    run = subprocess.run(
        [str(checkov), "--framework", "cloudformation", "--quiet", "--compact", "--skip-download", "-o", "json"]
        + [argument for template in templates for argument in ("-f", template)],
        capture_output=True,
        text=True,
        check=False,
    )
    # checkov exits 1 when a check failed; anything else, or no JSON, is the scanner failing.
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise RuntimeError(f"checkov failed (exit {run.returncode}): {run.stderr.strip()[-2000:]}")
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    passed, failures = 0, []
    for each in reports:
        passed += each["summary"]["passed"]
        failures += [
            Failure(item["check_id"], item["check_name"], item["resource"], Path(item["file_path"]).name)
            for item in each["results"]["failed_checks"]
        ]
    return passed, failures


def judge(
    passed: int, failures: Sequence[Failure], acknowledged: Sequence[ScanAcknowledgment] = ACKNOWLEDGED
) -> ScanResult:
    unacknowledged = [f for f in failures if not any(a.covers(f.check, f.resource) for a in acknowledged)]
    stale = [a for a in acknowledged if not any(a.covers(f.check, f.resource) for f in failures)]
    return ScanResult(passed, list(failures), unacknowledged, stale)


def synthesize_every_site() -> list[Path]:
    from site_model import load_sites
    from stacks.site_app import build, new_app  # the CDK starts here

    folders = []
    for site_id in sorted(load_sites()):
        outdir = OUTDIR / site_id
        app = new_app(outdir=str(outdir), context={"site": site_id})
        build(app)
        app.synth()
        folders.append(outdir)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assembly", action="append", type=Path, help="a synthesized cloud assembly (repeatable)")
    args = parser.parse_args(argv)
    assemblies = args.assembly or synthesize_every_site()
    passed, failures = 0, []
    for assembly in assemblies:
        site_passed, site_failures = checkov_failures(assembly)
        passed += site_passed
        failures += site_failures
    result = judge(passed, failures)
    for failure in result.unacknowledged:
        print(f"failed, not acknowledged: {failure}", file=sys.stderr)
    for stale in result.stale:
        print(f"acknowledgment matches no failed check: {stale.check} {stale.resource.pattern}", file=sys.stderr)
    print(
        f"scan: assemblies={len(assemblies)} passed={result.passed} failed={len(failures)} "
        f"acknowledged={len(failures) - len(result.unacknowledged)} unacknowledged={len(result.unacknowledged)} "
        f"stale={len(result.stale)}"
    )
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
