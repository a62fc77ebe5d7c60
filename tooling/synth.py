"""`make synth`: synthesize one site with the CDK CLI, gate it, lint it, prove its isolation, write its evidence.

python -m tooling.synth --site plantA [--region eu-west-1] [--no-lint]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from policies.isolation import assembly_sites, isolation_breaches
from site_model import load_sites
from tooling.evidence import collect, write

ASSEMBLY = Path("cdk.out")


def cdk_synth(site: str, region: str | None) -> int:
    command = ["npx", "--no-install", "cdk", "synth", "--quiet", "-c", f"site={site}"]
    if region:
        command += ["-c", f"region={region}"]
    return subprocess.call(command)


def cfn_lint(assembly: Path) -> int:
    """cfn-lint over every template; only errors fail (exit bit 2), warnings are printed."""
    templates = sorted(str(path) for path in assembly.glob("*.template.json"))
    result = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), *templates], check=False)
    return 1 if result.returncode & 2 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", required=True)
    parser.add_argument("--region")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint (diagrams)")
    args = parser.parse_args(argv)

    report = ASSEMBLY / "validation-report.json"
    report.unlink(missing_ok=True)  # never summarize a previous run's report
    status = cdk_synth(args.site, args.region)
    if report.exists():
        print(f"{'stack':<12} {'resources':>9} {'findings':>9} {'acknowledged':>12}  evidence")
        for evidence in collect(ASSEMBLY).values():
            path = write(evidence, ASSEMBLY / "compliance")
            print(
                f"{evidence.stack:<12} {evidence.resources:>9} {len(evidence.findings):>9} "
                f"{len(evidence.acknowledgments):>12}  {path}"
            )
    if status != 0:
        print("synth failed: fix or acknowledge (policies/acknowledge.py) each finding above", file=sys.stderr)
        return status
    if not args.no_lint and cfn_lint(ASSEMBLY) != 0:
        print("cfn-lint found errors in the synthesized templates", file=sys.stderr)
        return 1
    breaches = isolation_breaches(assembly_sites(ASSEMBLY, load_sites()))
    for breach in breaches:
        print(f"isolation: {breach}", file=sys.stderr)
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
