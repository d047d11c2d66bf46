"""The release ledger's parts: fingerprints, the stored sets, lockout bookkeeping, the steward's
commands, and the engine's person ids it is fed with."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from behindglass.cli.ledger_cmd import ledger as ledger_cmd
from behindglass.cli.ledger_cmd import unlock as unlock_cmd
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, GovernanceError
from behindglass.core.policy import DifferencingRules
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.fingerprints import (
    fingerprint,
    pack,
    set_digest,
    siphash24_u64,
    symmetric_difference_size,
    unpack,
)
from behindglass.privacy.ledger import ReleaseLedger
from tests.unit.conftest import GIB, T2D
from tests.unit.ledger_support import Clock

KEY = b"unit-test-ledger-key-not-a-secret"
RULES = DifferencingRules(lockout_after=3, max_repeats=3, window_hours=24, lockout_hours=12)


def fps(ids) -> np.ndarray:
    return fingerprint(np.asarray(list(ids), dtype=np.int64), KEY)


# -- fingerprints ---------------------------------------------------------------------------
def test_siphash_matches_the_reference_vector() -> None:
    # SipHash-2-4 paper, key 00..0f, message 00..07: 62 24 93 9a 79 f5 f5 93 (little-endian)
    msg = np.frombuffer(bytes(range(8)), dtype="<u8").astype(np.uint64)
    out = siphash24_u64(msg, bytes(range(16)))
    assert out.astype("<u8").tobytes().hex() == "6224939a79f5f593"


def test_fingerprints_are_sorted_distinct_and_keyed() -> None:
    ids = np.array([5, 3, 5, 1, 9, 3], dtype=np.int64)
    a = fingerprint(ids, KEY)
    assert a.dtype == np.uint64 and a.size == 4 and bool(np.all(a[1:] > a[:-1]))
    assert np.array_equal(a, fingerprint(ids[::-1].copy(), KEY))  # order never matters
    other = fingerprint(ids, b"another-site-key-of-enough-bytes")
    assert not np.intersect1d(a, other).size  # another key: unlinkable
    # no person id survives as a value (small ids are what an attacker would try)
    assert not np.isin(a, np.arange(0, 1000, dtype=np.uint64)).any()


def test_fingerprint_refuses_a_short_key_and_non_integers() -> None:
    with pytest.raises(DisclosureError, match="at least 16 bytes"):
        fingerprint(np.arange(3), b"short")
    with pytest.raises(DisclosureError, match="integers"):
        fingerprint(np.array([1.5, 2.5]), KEY)


def test_digest_is_equal_only_for_equal_sets() -> None:
    assert set_digest(fps([1, 2, 3])) == set_digest(fps([3, 2, 1, 1]))
    assert set_digest(fps([1, 2, 3])) != set_digest(fps([1, 2, 4]))


@pytest.mark.parametrize("n", [0, 1, 2, 1000, 50_000])
def test_pack_round_trips(n: int) -> None:
    rng = np.random.default_rng(n)
    a = fps(rng.choice(10 * n + 1, size=n, replace=False))
    assert np.array_equal(unpack(pack(a)), a)


def test_symmetric_difference_size_equals_numpy() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        a = fps(rng.integers(0, 300, size=rng.integers(0, 200)))
        b = fps(rng.integers(0, 300, size=rng.integers(0, 200)))
        assert symmetric_difference_size(a, b) == np.setxor1d(a, b).size


def test_a_million_ids_give_a_million_distinct_fingerprints() -> None:
    # speed: benchmarks/bench_glass.py
    ids = np.arange(1_000_000, dtype=np.int64) * 7 + 3
    out = fingerprint(ids, KEY)
    assert out.size == ids.size and np.all(out[1:] > out[:-1])


# -- the stored sets ------------------------------------------------------------------------
def test_ledger_holds_no_person_id(tmp_path: Path, book: ReleaseLedger) -> None:
    ids = range(1000, 1100)
    book.record("ann", "s1", "characterize", "t2d", fps(ids))
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    (blob,) = con.execute("SELECT fingerprints FROM releases").fetchone()
    con.close()
    stored = unpack(blob)
    assert not np.isin(stored, np.arange(1000, 1100, dtype=np.uint64)).any()
    assert np.array_equal(stored, fps(ids))


def test_ledger_is_wal_and_survives_reopen(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "ledger.sqlite"
    with ReleaseLedger(path, clock=clock) as b:
        b.record("ann", "s1", "characterize", "t2d", fps(range(100)))
    with ReleaseLedger(path, clock=clock) as b:
        assert b.check("ann", "s1", fps(range(95)), 11) is not None
        (mode,) = b._con.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def test_size_prefilter_keeps_every_set_that_could_matter(book: ReleaseLedger) -> None:
    # |N| - |E| = k - 1, N a superset: the widest gap the prefilter must still compare
    book.record("ann", "s1", "a", "x", fps(range(100)))
    assert book.check("ann", "s1", fps(range(110)), 11) is not None
    assert book.check("ann", "s1", fps(range(111)), 11) is None


def test_check_rejects_unsorted_input(book: ReleaseLedger) -> None:
    with pytest.raises(DisclosureError, match="sorted and distinct"):
        book.check("ann", "s1", fps(range(50))[::-1].copy(), 11)


def test_two_processes_cannot_both_pass_close_sets(tmp_path: Path) -> None:
    """Two agents admit populations 5 persons apart at the same moment: exactly one wins."""
    path = tmp_path / "ledger.sqlite"
    ReleaseLedger(path).close()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(ids: range) -> None:
        with ReleaseLedger(path) as b:
            barrier.wait()
            try:
                b.admit("ann", "s1", "characterize", {"x": fps(ids)}, RULES, 11)
                outcomes.append("released")
            except DisclosureError:
                outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(r,)) for r in (range(100), range(105))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "released"]


# -- lockout bookkeeping --------------------------------------------------------------------
def test_refusals_outside_the_window_do_not_lock(book: ReleaseLedger, clock: Clock) -> None:
    for _ in range(3):
        book.note_refusal("ann")
        clock.advance(hours=13)  # the window is 24 h: never three inside one
    assert book.locked_until("ann", RULES) is None


def test_lockout_runs_from_the_triggering_event(book: ReleaseLedger, clock: Clock) -> None:
    book.note_refusal("ann")
    clock.advance(hours=1)
    book.note_refusal("ann")
    clock.advance(hours=1)
    trigger = clock.now
    book.note_refusal("ann")
    clock.advance(minutes=5)
    assert book.locked_until("ann", RULES) == trigger + timedelta(hours=12)
    assert book.locked_until("bob", RULES) is None


def test_unlock_needs_names(book: ReleaseLedger) -> None:
    with pytest.raises(GovernanceError):
        book.unlock("ann", " ")


def test_disabled_rules_never_lock(book: ReleaseLedger) -> None:
    for _ in range(5):
        book.note_refusal("ann")
    assert book.locked_until("ann", RULES.model_copy(update={"enabled": False})) is None


# -- the steward's commands -----------------------------------------------------------------
def test_cli_ledger_and_unlock(tmp_path: Path) -> None:
    with ReleaseLedger(tmp_path / "ledger.sqlite") as b:  # the commands use the real clock
        b.admit("ann", "s1", "characterize", {"t2d": fps(range(4242))}, RULES, 11)
        for _ in range(3):
            b.note_refusal("bob")
    runner = CliRunner()
    env = {"BEHINDGLASS_SITE_HOME": str(tmp_path), "BEHINDGLASS_STEWARD": "sam"}
    shown = runner.invoke(ledger_cmd, [], env=env)
    assert shown.exit_code == 0, shown.output
    assert "ann" in shown.output and "bob" in shown.output
    assert "4242" not in shown.output  # never a population's size
    bob = next(line for line in shown.output.splitlines() if line.startswith("bob"))
    assert bob.rstrip().endswith("UTC")  # locked until ...
    ann = next(line for line in shown.output.splitlines() if line.startswith("ann"))
    assert ann.rstrip().endswith("-")

    lifted = runner.invoke(unlock_cmd, ["bob"], env=env)
    assert lifted.exit_code == 0 and "lifted bob's lockout" in lifted.output
    assert "sam" in lifted.output
    with ReleaseLedger(tmp_path / "ledger.sqlite") as b:
        assert b.locked_until("bob", DifferencingRules(lockout_after=3)) is None
        (steward,) = b._con.execute("SELECT steward FROM unlocks").fetchone()
    assert steward == "sam"


def test_cli_without_a_ledger_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(ledger_cmd, ["--home", str(tmp_path)])
    assert result.exit_code == 1 and "no ledger yet" in result.output
    assert "Traceback" not in result.output


def test_cli_reads_the_policy_file(tmp_path: Path) -> None:
    pytest.importorskip("behindglass.site.policy_file")
    (tmp_path / "policy.toml").write_text("[differencing]\nlockout_after = 5\n")
    with ReleaseLedger(tmp_path / "ledger.sqlite") as b:
        for _ in range(3):
            b.note_refusal("bob")
    shown = CliRunner().invoke(ledger_cmd, ["--home", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    bob = next(line for line in shown.output.splitlines() if line.startswith("bob"))
    assert bob.rstrip().endswith("-")  # 3 refusals do not lock under lockout_after = 5


# -- the engine's person ids ----------------------------------------------------------------
def test_person_ids_are_the_counted_members(tiny_cdm: Path) -> None:
    with SiteStore.open(tiny_cdm) as store:
        ids = store.person_ids(Cohort.condition(T2D))
        assert ids.dtype == np.int64
        assert set(ids.tolist()) == set(range(1, 31)) - {5}
        assert ids.size == store.count_persons(Cohort.condition(T2D))
        assert store.person_ids(Cohort.condition(T2D).age_between(0, 1)).size == 0


def test_person_ids_on_gibleed(gibleed_db: Path) -> None:
    with SiteStore.open(gibleed_db) as store:
        cohort = Cohort.condition(GIB)
        ids = store.person_ids(cohort)
        assert ids.size == store.count_persons(cohort) > 100
        assert np.unique(ids).size == ids.size
