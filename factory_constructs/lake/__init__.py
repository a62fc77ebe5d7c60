"""The raw / conformed / curated data lake of a site."""
