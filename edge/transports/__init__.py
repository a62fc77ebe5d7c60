"""transports of the edge components."""
