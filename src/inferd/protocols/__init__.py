"""inferd.protocols."""
