"""`make synth`: synthesize one site with the CDK CLI, gate it, lint it, prove its isolation, write its evidence.

python -m tooling.synth --site plantA [--region eu-west-1] [--no-lint] [--evidence [--records DIR]]

``--evidence`` (`make evidence`) also writes the traceability matrix and the change record
(tooling/evidence_site.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from policies.isolation import assembly_sites, isolation_breaches
from site_model import load_sites
from tooling.evidence import collect, write
from tooling.evidence_matrix import EvidenceError
from tooling.evidence_site import write_site_evidence

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
    parser.add_argument("--evidence", action="store_true", help="also the traceability matrix and the change record")
    parser.add_argument("--records", type=Path, help="change records folder (default cdk.out/compliance/records/SITE)")
    args = parser.parse_args(argv)
    if args.evidence and args.no_lint:
        parser.error("--evidence records a version only after every check; fix: drop --no-lint")

    report = ASSEMBLY / "validation-report.json"
    report.unlink(missing_ok=True)  # never summarize a previous run's report
    status = cdk_synth(args.site, args.region)
    stacks = list(collect(ASSEMBLY).values()) if report.exists() else []
    if stacks:
        print(f"{'stack':<12} {'resources':>9} {'findings':>9} {'acknowledged':>12}  evidence")
    for evidence in stacks:
        path = write(evidence, ASSEMBLY / "compliance")
        print(
            f"{evidence.stack:<12} {evidence.resources:>9} {len(evidence.findings):>9} "
            f"{len(evidence.acknowledgments):>12}  {path}"
        )
    failure = None
    if status != 0:
        failure = "synth failed: fix or acknowledge (policies/acknowledge.py) each finding above"
    elif not args.no_lint and cfn_lint(ASSEMBLY) != 0:
        status, failure = 1, "cfn-lint found errors in the synthesized templates"
    else:
        breaches = isolation_breaches(assembly_sites(ASSEMBLY, load_sites()))
        for breach in breaches:
            print(f"isolation: {breach}", file=sys.stderr)
        status = 1 if breaches else 0
    if args.evidence:  # also after a failed gate: the matrix shows what failed (no change record is written)
        try:
            for evidence in stacks:
                kept = write_site_evidence(
                    ASSEMBLY, evidence, folder=ASSEMBLY / "compliance", records=args.records, passed=status == 0
                )
                print("\n".join(f"evidence: {path}" for path in kept))
        except EvidenceError as error:
            print(f"evidence: {error}", file=sys.stderr)
            status = status or 1
    if failure:
        print(failure, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
