"""inferd: OCI-versioned models served over the Open Inference Protocol."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
