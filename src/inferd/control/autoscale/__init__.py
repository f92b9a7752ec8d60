"""Autoscaling on inference signals (concurrency, queue depth, rps, p95 latency), to and
from zero (docs/autoscaling.md): a pure decision, a wrapper holding its windows, a loop."""
