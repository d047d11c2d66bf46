"""Property-based fuzzing of the hub's OpenAPI with schemathesis, in process (ASGI).

(a) Without a token every operation but ``/health`` answers 401, whatever is sent (valid
    or schema-breaking): never a 2xx, never a 5xx, never a 422 that would tell a stranger
    which fields exist.
(b) With a valid token of each role, generated requests never cause a 5xx, and every
    answer conforms to the published schema (status code documented, body and headers as
    documented), so clients generated from the OpenAPI are not lied to.

The run is kept short (few examples per operation, fixed seed, no shrinking) so it stays
well under a minute; a failure prints the operation and the request that broke it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from behindglass.core.study import StudySpec
from behindglass.hub import create_app
from behindglass.hub.ratelimit import RateLimits

API = "/api/v1"
EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
STUDY = {"title": "Fuzzed", "cohorts": {"all": {}},
         "analyses": [{"kind": "cohort_count", "name": "CohortCount", "cohort": "all"}]}


class Fixture:
    """A hub with one principal of each role, a study shared with the viewer and a task
    leased to the site, so generated requests can reach real rows, not only 404s."""

    def __init__(self, state: Path) -> None:
        # rate limits off: the fuzzer's burst of requests is not what is under test here
        self.app: FastAPI = create_app(state, rate_limits=RateLimits(enabled=False))
        hub = self.app.state.hub
        self.tokens = {name: hub.add_principal(name, role) for name, role in (
            ("site-a", "site"), ("alice", "researcher"), ("vera", "viewer"),
            ("root", "admin"))}
        # straight into the state: the app's lifespan runs once, under the fuzzer's client
        self.study_id, _ = hub.create_study("alice", StudySpec.model_validate(STUDY))
        hub.share_study(self.study_id, "vera")
        task = hub.claim_next("site-a")
        assert task is not None
        self.task_id = task.task_id
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", self.app)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Fixture]:
    # one hub per test: its lifespan (which closes the state) ends with the test
    fixture = Fixture(tmp_path / "state")
    yield fixture
    shutdown_lifespans()


def _no_waiting(case: Any) -> None:
    """Long-polls would hold a request up to 120 s; the fuzzer asks without waiting."""
    if case.query and "wait" in case.query:
        case.query["wait"] = 0


def _operations(hub: Fixture) -> list[Any]:
    ops = [result.ok() for result in hub.schema.get_all_operations()]
    assert len(ops) >= 12, "the hub's OpenAPI lost its operations"
    return ops


def _strategy(op: Any, hub: Fixture, negative: bool = False) -> Any:
    """Random cases, plus cases aimed at the fixture's real study and task (and, with
    ``negative``, cases that break the schema: wrong types, missing fields, bad JSON)."""
    names = {p.name for p in op.path_parameters}
    known = {k: v for k, v in (("study_id", hub.study_id), ("task_id", hub.task_id),
                               ("viewer", "vera")) if k in names}
    options = [op.as_strategy()]
    if negative:
        options.append(op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    if known:
        options.append(op.as_strategy(path_parameters=known))
    if op.label == f"POST {API}/studies":  # random specs rarely validate: add a valid one
        options.append(op.as_strategy(body=STUDY))
    return st.one_of(*options)


def _fuzz(hub: Fixture, check: Callable[[Any, Any], None], examples: int = EXAMPLES,
          negative: bool = False) -> int:
    calls = 0
    for op in _operations(hub):
        @given(case=_strategy(op, hub, negative))
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            nonlocal calls
            _no_waiting(case)
            case.headers.pop("Authorization", None)
            calls += 1
            check(case, case.operation)

        run()
    return calls


def test_without_a_token_everything_but_health_is_401(hub: Fixture) -> None:
    def check(case: Any, op: Any) -> None:
        response = case.call()
        if op.path == f"{API}/health":
            assert response.status_code == 200
        else:
            assert response.status_code == 401, (
                f"{op.label} answered {response.status_code} without a token: "
                f"{response.text[:200]}")

    assert _fuzz(hub, check, examples=6, negative=True) > 80


@pytest.mark.parametrize("who", ["alice", "site-a", "vera", "root"])
def test_with_a_token_no_5xx_and_answers_match_the_schema(hub: Fixture, who: str) -> None:
    auth = {"Authorization": f"Bearer {hub.tokens[who]}"}

    def check(case: Any, op: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    assert _fuzz(hub, check) > 80
    # nothing the fuzzer sent changed who anyone is (an admin's random DELETEs included)
    for name, token in hub.tokens.items():
        assert hub.app.state.hub.authenticate(token).name == name
