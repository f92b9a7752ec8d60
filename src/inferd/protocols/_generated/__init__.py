"""Code generated from protos/ by scripts/generate. Do not edit."""
