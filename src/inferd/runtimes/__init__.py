"""inferd.runtimes."""
