"""Server commands: serve."""
