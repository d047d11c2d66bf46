"""Rate limits per principal: a token bucket for reads and one for writes.

One researcher (or a runaway script holding their token) must not be able to starve the
hub's single process, nor flood sites with studies. Every authenticated principal gets
two buckets: *reads* (GET/HEAD; generous, since the SDK long-polls study status) and
*writes* (everything else, chiefly study submissions, which fan out into one task per
site). A request that finds its bucket empty is answered ``429 Too Many Requests`` with a
``Retry-After`` header saying how many whole seconds until a token is back.

Buckets live in memory: the hub is one process, and a restart forgetting them only
forgives. Their number is bounded by the registered principals (anonymous requests are
refused before they reach a bucket). The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException, Request, status

from behindglass.hub.auth import Caller

Kind = Literal["read", "write"]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RATE_TEXT = re.compile(r"(\d+(?:\.\d+)?)/(s|min|h):(\d+)")
_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Rate:
    """``per_second`` tokens come back each second, up to ``burst`` held at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError(f"rate must be a positive number of requests per second, "
                             f"got {self.per_second!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1 request, got {self.burst!r}")

    @classmethod
    def per_minute(cls, count: float, burst: int) -> Rate:
        return cls(per_second=count / 60.0, burst=burst)

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"20/s:100"`` or ``"30/min:10"`` (rate per second/minute/hour, then burst)."""
        match = _RATE_TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"rate limit {text!r} is not valid: write COUNT/UNIT:BURST, "
                             "e.g. 20/s:100 or 30/min:10 (units s, min, h)")
        count, unit, burst = match.groups()
        return cls(per_second=float(count) / _UNITS[unit], burst=int(burst))

    def __str__(self) -> str:
        if self.per_second >= 1:
            return f"{self.per_second:g}/s:{self.burst}"
        return f"{self.per_second * 60:g}/min:{self.burst}"


@dataclass(frozen=True)
class RateLimits:
    """The hub's limits. Defaults leave room for long-polling clients and scripted use:
    20 reads/s (burst 100) and 30 writes/min (burst 10) per principal."""

    reads: Rate = field(default_factory=lambda: Rate(20.0, 100))
    writes: Rate = field(default_factory=lambda: Rate.per_minute(30, 10))
    enabled: bool = True


class TokenBucket:
    """The classic bucket: starts full; each request takes a token."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        elapsed = max(0.0, now - self.updated)  # a clock going backwards never adds tokens
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate.per_second


class RateLimiter:
    """Buckets by (principal, kind); safe to call from the event loop and worker threads."""

    def __init__(self, limits: RateLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._buckets: dict[tuple[str, str, Kind], TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, role: str, name: str, kind: Kind) -> float:
        """0.0 if the request may go ahead, else seconds to wait before retrying."""
        if not self.limits.enabled:
            return 0.0
        rate = self.limits.reads if kind == "read" else self.limits.writes
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get((role, name, kind))
            if bucket is None:
                bucket = self._buckets[(role, name, kind)] = TokenBucket(rate, now)
            return bucket.take(now)

    def forget(self, role: str, name: str) -> None:
        """Drop a principal's buckets (after revocation)."""
        with self._lock:
            for kind in ("read", "write"):
                self._buckets.pop((role, name, kind), None)


def kind_of(method: str) -> Kind:
    return "read" if method.upper() in READ_METHODS else "write"


async def rate_limited(request: Request, who: Caller) -> None:
    """FastAPI dependency: refuse with 429 once the caller's bucket is empty.

    It depends on the caller, so a request without a valid token is 401 before it can
    spend anyone's budget. Apps without a limiter (``app.state.ratelimiter`` unset) are
    not limited."""
    limiter: RateLimiter | None = getattr(request.app.state, "ratelimiter", None)
    if limiter is None:
        return
    kind = kind_of(request.method)
    wait = limiter.check(who.role, who.name, kind)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many {kind}s from {who.role} {who.name!r}: retry in {retry} s",
            headers={"Retry-After": str(retry)})
