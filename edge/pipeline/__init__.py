"""pipeline of the edge components."""
