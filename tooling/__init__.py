"""Developer tooling behind the make targets: synth + gate + lint + evidence."""
