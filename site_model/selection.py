"""Which (site, region) compartments one synth builds, from the CLI context."""

from __future__ import annotations

from site_model.model import Site


class SelectionError(ValueError):
    """The -c site / -c region context names nothing that can be built."""


def select(
    sites: dict[str, Site], site_id: str | None, region: str | None, share: str | None = None
) -> list[tuple[Site, str]]:
    """(site, region) pairs to build: one site when ``site_id`` is given, else every site in its home region,
    or only the comma-separated ``share`` of them (a worker of a parallel synth)."""
    if share is not None and site_id is None:
        unknown = [name for name in share.split(",") if name not in sites]
        if unknown:
            raise SelectionError(f"unknown site(s) {', '.join(unknown)} in -c sites; fix: use ids of {_known(sites)}")
        sites = {name: sites[name] for name in share.split(",")}
    if site_id is None:
        if region is not None:
            raise SelectionError(f"-c region={region} needs -c site=<site>; fix: add -c site=<one of {_known(sites)}>")
        return [(site, site.home_region) for site in sites.values()]
    site = sites.get(site_id)
    if site is None:
        raise SelectionError(f"unknown site {site_id!r}; fix: use one of {_known(sites)} or add tenants/{site_id}.yaml")
    target = region or site.home_region
    if target not in site.data_regions:
        raise SelectionError(
            f"site {site.id!r} may not be deployed to {target}: its data may reside only in "
            f"{', '.join(site.data_regions)}; fix: use -c region=<one of those> or extend data_regions in its site file"
        )
    return [(site, target)]


def _known(sites: dict[str, Site]) -> str:
    return ", ".join(sorted(sites))
