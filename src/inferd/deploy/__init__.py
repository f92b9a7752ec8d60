"""inferd.deploy."""
