"""The typed site model: reads tenants/<site>.yaml into validated objects."""

from site_model.loader import SiteFileError, load_site, load_sites
from site_model.model import Site

__all__ = ["Site", "SiteFileError", "load_site", "load_sites"]
