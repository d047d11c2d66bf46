"""Rate limits per principal: token buckets on a fake clock, then the hub answering 429
with Retry-After — before a refused submission can create a single task."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from behindglass.hub import create_app
from behindglass.hub.ratelimit import Rate, RateLimiter, RateLimits, TokenBucket, kind_of

API = "/api/v1"
STUDY = {"title": "Counting", "cohorts": {"all": {}},
         "analyses": [{"kind": "cohort_count", "name": "CohortCount", "cohort": "all"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(Rate(per_second=2.0, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token every half second
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    # a long pause refills only up to the burst, never beyond
    assert [bucket.take(100.0) for _ in range(4)][-1] > 0
    # a clock stepping backwards does not mint tokens
    assert bucket.take(50.0) > 0


def test_limiter_keeps_principals_and_kinds_apart() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(reads=Rate(1.0, 2), writes=Rate.per_minute(6, 1)),
                          clock=clock)
    assert limiter.check("researcher", "alice", "read") == 0.0
    assert limiter.check("researcher", "alice", "read") == 0.0
    assert limiter.check("researcher", "alice", "read") == pytest.approx(1.0)
    assert limiter.check("researcher", "bob", "read") == 0.0  # bob has his own bucket
    assert limiter.check("viewer", "alice", "read") == 0.0  # so does a viewer named alice
    assert limiter.check("researcher", "alice", "write") == 0.0  # writes are counted apart
    assert limiter.check("researcher", "alice", "write") == pytest.approx(10.0)
    clock.now += 10
    assert limiter.check("researcher", "alice", "write") == 0.0
    assert RateLimiter(RateLimits(enabled=False)).check("researcher", "a", "write") == 0.0


def test_defaults_and_parsing() -> None:
    limits = RateLimits()
    assert (limits.reads.per_second, limits.reads.burst) == (20.0, 100)
    assert limits.writes.per_second == pytest.approx(0.5) and limits.writes.burst == 10
    assert Rate.parse("30/min:10") == limits.writes
    assert Rate.parse(" 20/s:100 ") == limits.reads
    assert Rate.parse("3600/h:5") == Rate(1.0, 5)
    assert str(limits.writes) == "30/min:10" and str(limits.reads) == "20/s:100"
    for bad in ("20", "20/s", "fast", "-1/s:3", "20/day:1", "0/s:1", "1/s:0"):
        with pytest.raises(ValueError):
            Rate.parse(bad)
    assert (kind_of("GET"), kind_of("head"), kind_of("POST"), kind_of("DELETE")) == (
        "read", "read", "write", "write")


@pytest.fixture
def limited(tmp_path: Path):
    clock = Clock()
    app = create_app(tmp_path / "state",
                     rate_limits=RateLimits(reads=Rate(1.0, 3), writes=Rate.per_minute(2, 2)))
    app.state.ratelimiter = RateLimiter(app.state.ratelimiter.limits, clock=clock)
    tokens = {n: app.state.hub.add_principal(n, r) for n, r in (
        ("site-a", "site"), ("alice", "researcher"), ("bob", "researcher"))}
    with TestClient(app) as client:
        yield client, tokens, clock, app


def test_reads_beyond_the_burst_are_429_with_retry_after(limited) -> None:
    client, tokens, clock, _ = limited
    alice = bearer(tokens["alice"])
    codes = [client.get(f"{API}/studies", headers=alice).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    refused = client.get(f"{API}/studies", headers=alice)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "alice" in refused.json()["detail"]
    assert client.get(f"{API}/studies", headers=bearer(tokens["bob"])).status_code == 200
    # anonymous and bad tokens are 401 first: they can neither spend nor see alice's budget
    assert client.get(f"{API}/studies").status_code == 401
    assert client.get(f"{API}/studies", headers=bearer("nope")).status_code == 401
    clock.now += 1.0
    assert client.get(f"{API}/studies", headers=alice).status_code == 200


def test_a_refused_submission_creates_nothing(limited) -> None:
    client, tokens, clock, app = limited
    alice = bearer(tokens["alice"])
    assert [client.post(f"{API}/studies", json=STUDY, headers=alice).status_code
            for _ in range(2)] == [201, 201]
    refused = client.post(f"{API}/studies", json=STUDY, headers=alice)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 30
    assert len(app.state.hub.studies_of("alice")) == 2
    # the site sees two tasks, not three
    site = bearer(tokens["site-a"])
    got = [client.get(f"{API}/tasks/next", headers=site).status_code for _ in range(3)]
    assert got == [200, 200, 204]
    clock.now += 30
    assert client.post(f"{API}/studies", json=STUDY, headers=alice).status_code == 201


def test_sites_are_not_limited(limited) -> None:
    client, tokens, _, _ = limited
    site = bearer(tokens["site-a"])
    assert {client.get(f"{API}/tasks/next", headers=site).status_code
            for _ in range(10)} == {204}


def test_openapi_documents_429(limited) -> None:
    client, _, _, _ = limited
    paths = client.get("/openapi.json").json()["paths"]
    assert "429" in paths[f"{API}/studies"]["post"]["responses"]
    assert "Retry-After" in paths[f"{API}/studies"]["post"]["responses"]["429"]["headers"]


def test_serve_refuses_a_bad_limit(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from behindglass.cli.hub_cmd import hub as hub_cli

    done = CliRunner().invoke(hub_cli, ["serve", "--state", str(tmp_path),
                                        "--read-limit", "lots"])
    assert done.exit_code == 2 and "COUNT/UNIT:BURST" in done.output
