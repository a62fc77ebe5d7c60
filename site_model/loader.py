"""Reads tenants/*.yaml into Site models; every problem of a file at once."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from site_model.model import Site
from validation.messages import Describer

TENANTS_DIR = Path(__file__).resolve().parent.parent / "tenants"

# Fixes that point at the schema or read in YAML terms; the rest are validation.messages.COMMON_FIXES.
# Our validators carry their own "fix:" and read after the value they refused: "'10.0.0.0/33': not a ...".
_DESCRIBER = Describer(
    subject="(site)",
    default_fix="see tenants/schema.json",
    fixes={
        "extra_forbidden": "remove it or check its spelling against tenants/schema.json",
        "missing": "add it (see tenants/schema.json)",
        "string_type": "write a quoted string",
        "list_type": "write a YAML list",
    },
    value_separator=": ",
)


class SiteFileError(ValueError):
    """A site file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{_display(path)}: {problem}" for problem in problems))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_site(path: Path) -> Site:
    """Read and validate one site file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SiteFileError(path, [f"cannot be read ({error.strerror})"]) from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or str(error)
        raise SiteFileError(path, [f"is not valid YAML{where}: {reason}; fix: correct the syntax there"]) from error
    if data is None:
        raise SiteFileError(path, ["is empty; fix: describe the site (copy tenants/plantC.yaml as a start)"])
    if not isinstance(data, dict):
        raise SiteFileError(
            path, [f"must be a mapping of fields, got {type(data).__name__}; fix: start with 'id: ...'"]
        )
    try:
        return Site.model_validate(data)
    except ValidationError as error:
        raise SiteFileError(path, _DESCRIBER.describe(error.errors())) from None


def load_sites(folder: Path = TENANTS_DIR) -> dict[str, Site]:
    """Every site of a folder, keyed by id. Reports all broken files together."""
    sites: dict[str, Site] = {}
    origin: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            site = load_site(path)
        except SiteFileError as error:
            problems.append(str(error))
            continue
        clash = next((known for known in origin if known.lower() == site.id.lower()), None)
        if clash is not None:
            problems.append(
                f"{_display(path)}: id: {site.id!r} is already used by {_display(origin[clash])}; "
                "fix: give every site a unique id"
            )
            continue
        sites[site.id] = site
        origin[site.id] = path
    if not problems:
        problems = [f"{_display(folder)}: {problem}" for problem in baseline_problems(sites)]
    if problems:
        raise ValueError("\n".join(problems))
    if not sites:
        raise ValueError(f"{_display(folder)}: no site files (*.yaml); fix: add one, e.g. tenants/plantA.yaml")
    return sites


# CloudTrail allows five trails per account and region (not adjustable); every site deployed there has one.
MAX_TRAILS_PER_REGION = 5


def baseline_problems(sites: dict[str, Site]) -> list[str]:
    """Who provides each account's region baseline (management trail, Config recorder): exactly one site of
    those that may be deployed to an (account, region) lists the region in audit.region_baseline. Sites
    without an ``account`` deploy to the CLI's default account and count as one account."""
    deployable: dict[tuple[str | None, str], list[Site]] = {}
    for site in sites.values():
        for region in site.data_regions:
            deployable.setdefault((site.account, region), []).append(site)
    problems = []
    for (account, region), present in sorted(deployable.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        where = f"{region} of account {account}" if account else f"{region} of the CLI's default account"
        ids = sorted(site.id for site in present)
        owners = sorted(site.id for site in present if site.region_baseline(region))
        if len(owners) > 1:
            problems.append(
                f"{where}: sites {owners} all list it in audit.region_baseline, which would create a second "
                f"management trail and Config recorder there; fix: keep {region} in the audit.region_baseline "
                "of exactly one of them"
            )
        elif not owners:
            problems.append(
                f"{where}: none of the sites that may be deployed there ({ids}) lists it in audit.region_baseline, "
                f"so nothing records its management events or runs its Config recorder; fix: add {region} to the "
                "audit.region_baseline of exactly one of them"
            )
        if len(present) > MAX_TRAILS_PER_REGION:
            problems.append(
                f"{where}: {len(present)} sites ({ids}) may be deployed there, each with its own trail, and "
                f"CloudTrail allows {MAX_TRAILS_PER_REGION} per account and region; fix: put some in another account"
            )
    return problems
