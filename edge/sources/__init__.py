"""sources of the edge components."""
