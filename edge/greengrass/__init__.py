"""greengrass of the edge components."""
