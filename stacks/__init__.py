"""Stacks: one top-level stack per (site, region), capabilities as nested stacks."""
