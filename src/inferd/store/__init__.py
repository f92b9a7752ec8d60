"""inferd.store."""
