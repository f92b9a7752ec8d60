"""inferd.serving."""
