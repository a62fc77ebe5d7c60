"""Greengrass v2 edge components: collect, harmonize, report by exception, spool, publish."""
