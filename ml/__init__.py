"""The ML plane: what a site learns from its curated data, and the card that carries it to the edge."""
