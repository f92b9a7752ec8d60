"""inferd.control."""
