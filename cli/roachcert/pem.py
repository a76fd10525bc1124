"""PEM checks (placeholder until the PEM module lands)."""
