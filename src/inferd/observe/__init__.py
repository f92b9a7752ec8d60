"""inferd.observe."""
