"""A token bucket: a key's requests/s limit.

The bucket holds up to ``burst`` tokens and gains ``rate`` per second; each request takes one.
A full bucket lets a client that was idle send ``burst`` requests at once, and over any longer
stretch at most ``rate`` a second get through. Time is passed in (monotonic seconds), so the
arithmetic is tested without clocks.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` held; starts full at time ``now``."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, now: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = rate
        #: A second's worth by default, and at least one request.
        self.burst = max(1.0, rate if burst is None else burst)
        self._tokens = self.burst
        self._at = now

    def take(self, now: float) -> float:
        """Take one token at ``now``: 0.0 when granted, else the seconds until one is there
        (nothing is taken then)."""
        tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(now, self._at)
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate
