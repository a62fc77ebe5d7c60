"""commands of the edge components."""
