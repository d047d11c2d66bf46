"""Promise 3, attacked: a researcher who tries to isolate a few persons by differencing
releases is refused, and one who keeps probing is locked out.

Each test plays the attacker against the ledger as the site agent uses it: fingerprint the
cohort's members, then ``admit`` (check, note, record in one transaction).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError
from behindglass.core.policy import DifferencingRules
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.fingerprints import fingerprint, set_digest, sorted_unique
from behindglass.privacy.ledger import REFUSAL, ReleaseLedger
from tests.unit.conftest import GIB, T2D
from tests.unit.ledger_support import Clock

KEY = b"attack-test-ledger-key-not-secret"
K = 11
RULES = DifferencingRules(k=K, lockout_after=3, max_repeats=3, window_hours=24,
                          lockout_hours=12)


def fps(ids) -> np.ndarray:
    return fingerprint(np.asarray(list(ids), dtype=np.int64), KEY)


def release(book: ReleaseLedger, researcher: str, study: str, ids, label: str = "x") -> None:
    book.admit(researcher, study, "characterize", {label: fps(ids)}, RULES, K)


def refused(book: ReleaseLedger, researcher: str, study: str, ids) -> str:
    with pytest.raises(DisclosureError) as caught:
        release(book, researcher, study, ids)
    return str(caught.value)


# -- the 1950 attack on real cohorts ----------------------------------------------------------
def test_everyone_with_x_except_those_born_in_1950_is_refused(tiny_cdm: Path, book) -> None:
    """T2D (29 persons), then T2D aged at most 60 (drops the 9 born in 1950): refused."""
    with SiteStore.open(tiny_cdm) as store:
        everyone = store.person_ids(Cohort.condition(T2D))
        but_1950 = store.person_ids(Cohort.condition(T2D).age_between(0, 60))
    assert 0 < everyone.size - but_1950.size < K  # the attack is real on this data
    release(book, "eve", "s1", everyone)
    reason = refused(book, "eve", "s1", but_1950)
    assert reason == REFUSAL.format(k=K)
    # the other order, by another researcher in another study: the smaller set first
    release(book, "mal", "s2", but_1950)
    assert refused(book, "mal", "s2", everyone) == reason


def test_the_attack_inside_one_analysis_is_refused(tiny_cdm: Path, book) -> None:
    """Target "X" and comparator "X but 1950" in one request: compared with each other."""
    with SiteStore.open(tiny_cdm) as store:
        everyone = store.person_ids(Cohort.condition(T2D))
        but_1950 = store.person_ids(Cohort.condition(T2D).age_between(0, 60))
    with pytest.raises(DisclosureError):
        book.admit("eve", "s1", "cohort_method",
                   {"target": fingerprint(everyone, KEY),
                    "comparator": fingerprint(but_1950, KEY)}, RULES, K)
    # nothing of the refused analysis was remembered as released: "X" alone still goes
    book.admit("eve", "s1", "characterize", {"x": fingerprint(everyone, KEY)}, RULES, K)


def test_pending_sets_of_one_task_are_compared(book: ReleaseLedger) -> None:
    """The check-then-record flow: a set passed earlier in the task counts before it is
    recorded."""
    first = fps(range(100))
    assert book.check("eve", "s1", first, K) is None
    assert book.check("eve", "s1", fps(range(97)), K, pending=[first]) == REFUSAL.format(k=K)


def test_the_attack_on_gibleed(gibleed_db: Path, book: ReleaseLedger) -> None:
    with SiteStore.open(gibleed_db) as store:
        bleeders = store.person_ids(Cohort.condition(GIB))
    release(book, "eve", "s1", bleeders)
    few = bleeders[:-3]  # everyone but three persons, however the three were chosen
    refused(book, "eve", "s1", few)
    release(book, "eve", "s1", bleeders[:-K])  # K fewer is a group the site may describe


# -- what is allowed --------------------------------------------------------------------------
def test_x_then_x_plus_k_others_is_allowed(book: ReleaseLedger) -> None:
    release(book, "ann", "s1", range(200))
    release(book, "ann", "s1", range(200 + K))
    release(book, "ann", "s1", range(200 + 2 * K))
    # ... but a step of fewer than k from any remembered set is not
    refused(book, "ann", "s1", range(200 + K + 1))


def test_the_same_query_is_allowed_until_max_repeats_then_locked(book, clock) -> None:
    for n in range(RULES.max_repeats):
        release(book, "ann", f"s{n}", range(300))  # Δ = 0 describes nobody new
        clock.advance(minutes=10)
    reason = refused(book, "ann", "s-again", range(300))
    assert "max_repeats" in reason and "locked out" in reason
    assert book.locked_until("ann", RULES) is not None
    # locked out: even a harmless, never-seen population is refused now
    assert "locked out" in refused(book, "ann", "s9", range(5000, 5500))


def test_one_study_asking_many_analyses_of_one_population_is_one_query(book) -> None:
    for n in range(RULES.max_repeats + 5):
        book.admit("ann", "s1", f"analysis-{n}", {"x": fps(range(300))}, RULES, K)
    assert book.locked_until("ann", RULES) is None


def test_another_researcher_in_another_study_is_not_compared(book: ReleaseLedger) -> None:
    release(book, "ann", "s1", range(100))
    release(book, "bob", "s2", range(95))  # 5 apart, but nothing links the two releases


def test_another_researcher_in_the_same_study_is_compared(book: ReleaseLedger) -> None:
    release(book, "ann", "s1", range(100))
    refused(book, "bob", "s1", range(95))


def test_the_same_researcher_in_another_study_is_compared(book: ReleaseLedger) -> None:
    release(book, "eve", "s1", range(100))
    refused(book, "eve", "s2", range(95))


def test_a_set_smaller_than_k_is_refused(book: ReleaseLedger) -> None:
    assert refused(book, "ann", "s1", range(K - 1)) == REFUSAL.format(k=K)
    release(book, "ann", "s1", range(K))
    release(book, "ann", "s2", [])  # nobody at all describes nobody


def test_a_walk_in_small_steps_is_refused_at_every_step(book: ReleaseLedger) -> None:
    release(book, "eve", "s1", range(500))
    for step in range(1, 4):
        refused(book, "eve", "s1", range(500 - step))


# -- lockout ----------------------------------------------------------------------------------
def test_repeated_refusals_lock_out_then_expire(book: ReleaseLedger, clock: Clock) -> None:
    release(book, "eve", "s1", range(1000))
    for n in (999, 998, 997):
        clock.advance(minutes=1)
        refused(book, "eve", "s1", range(n))
    trigger = clock.now
    assert book.locked_until("eve", RULES) == trigger + timedelta(hours=12)
    reason = book.lockout_reason("eve", RULES)
    assert reason is not None and "lockout_after" in reason
    assert "locked out" in refused(book, "eve", "s1", range(2000))
    clock.advance(hours=12, seconds=1)
    assert book.locked_until("eve", RULES) is None
    release(book, "eve", "s1", range(2000))


def test_a_steward_lifts_a_lockout(book: ReleaseLedger, clock: Clock) -> None:
    release(book, "eve", "s1", range(1000))
    for n in (999, 998, 997):
        refused(book, "eve", "s1", range(n))
    assert book.locked_until("eve", RULES) is not None
    clock.advance(minutes=1)
    book.unlock("eve", "sam")
    assert book.locked_until("eve", RULES) is None
    release(book, "eve", "s1", range(3000))
    # the old refusals no longer count: one more refusal does not lock again
    refused(book, "eve", "s1", range(2999))
    assert book.locked_until("eve", RULES) is None


def test_queries_noted_by_hand_count_toward_repeats(book: ReleaseLedger) -> None:
    digest = set_digest(fps(range(40)))
    for _ in range(RULES.max_repeats):
        book.note_query("ann", digest)
    assert book.locked_until("ann", RULES) is None
    book.note_query("ann", digest)
    assert "max_repeats" in (book.lockout_reason("ann", RULES) or "")


# -- what a refusal tells ---------------------------------------------------------------------
def test_refusal_text_discloses_no_number_but_k(book: ReleaseLedger) -> None:
    release(book, "eve", "s1", range(4321))
    texts = {refused(book, "eve", "s1", range(4318)),   # 3 apart from an earlier release
             refused(book, "eve", "s9", range(7)),      # 7 persons in all
             refused(book, "eve", "s2", range(4330))}   # 9 more than the earlier one
    assert len(texts) == 1  # every cause reads the same
    (text,) = texts
    assert re.findall(r"\d+", text) == [str(K)]


def test_checking_a_large_set_is_quick(book: ReleaseLedger) -> None:
    """100k persons against 200 earlier sets, all within k in size (so none is skipped by
    the size prefilter): 200 near-copies released to "ann" (each with k persons swapped:
    the worst case, every stored set is read and compared), and 200 other populations of
    the same size released to "bob" (the usual case, ruled out from their first values)."""
    rng = np.random.default_rng(1)
    new = fingerprint(np.arange(100_000, dtype=np.int64), KEY)
    near = []
    with book._change():  # set-up in one transaction: 400 commits would dominate the test
        for i in range(200):
            kept = np.delete(new, rng.choice(new.size, size=K, replace=False))
            copy = sorted_unique(np.concatenate([kept, rng.integers(0, 2**63, size=K,
                                                                dtype=np.uint64)]))
            near.append(copy)
            book._insert("ann", "s1", "characterize", f"near{i}", copy)
            other = sorted_unique(rng.integers(0, 2**63, size=new.size, dtype=np.uint64) * 2)
            book._insert("bob", "s2", "characterize", f"other{i}", other)
    timings = {}
    for who, study in (("ann", "s1"), ("bob", "s2")):
        started = time.perf_counter()
        assert book.check(who, study, new, K) is None
        timings[who] = time.perf_counter() - started
    # measured on the development machine (2 shared cores, other work running): near-copies
    # 0.6-1.2 s, other populations 0.06-0.13 s
    print(f"check of 100k persons against 200 earlier sets: near-copies "
          f"{timings['ann']:.2f} s, other populations {timings['bob']:.2f} s")
    assert book.check("ann", "s1", near[123][:-3], K) is not None  # and it still refuses
