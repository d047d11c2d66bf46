"""What the glass costs a site per release: membership fingerprints, the differencing
ledger, complementary suppression, differential privacy, and signatures.

    python benchmarks/bench_glass.py [--persons 100000] [--earlier 200]

Each figure is the median of a few runs of one step as the site's agent runs it:

* fingerprinting ``--persons`` person ids (keyed SipHash);
* the ledger's whole admission of one population of ``--persons`` against ``--earlier``
  earlier releases to the same researcher: near-copies of the same size, 12 persons apart
  (every stored set must be read in full, none refuses), and unrelated populations (ruled
  out from the stored head of each set);
* suppression of a release of three linked tables (sex, age band, sex x age band) with small
  cells, which the protection-interval search must protect across the tables;
* the same tables as two analyses of one task (a characterization by sex and by age band, a
  contingency table of sex x age band of the same cohort), suppressed together through their
  scopes, and one at a time as before;
* OpenDP noise on a 20-cell table;
* signing a task envelope (hub) and opening it (site), and signing a 50 kB release.

Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, TableScope
from behindglass.core.policy import DifferencingRules, DisclosurePolicy, PrivacyRules
from behindglass.core.signing import SigningKey, open_envelope, sign_envelope
from behindglass.privacy.dp import apply_dp
from behindglass.privacy.fingerprints import fingerprint
from behindglass.privacy.ledger import ReleaseLedger
from behindglass.privacy.suppression import enforce, enforce_release

KEY = b"k" * 32


def median_seconds(step: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def linked_release(rng: np.random.Generator) -> SiteAggregate:
    """Persons by sex, by 10 age bands, and by both, under one margin, some cells small."""
    both = {(s, f"{a}0s"): int(rng.choice([3, 7, 40, 90, 150]))
            for s in ("F", "M") for a in range(1, 11)}
    by_sex = {s: sum(v for (x, _), v in both.items() if x == s) for s in ("F", "M")}
    by_age = {a: sum(v for (_, y), v in both.items() if y == a) for _, a in both}
    total = sum(both.values())
    tables = (
        CountTable(name="persons", cells=(Cell(key=(), count=total),)),
        CountTable(name="sex", dims=("sex",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in by_sex.items())),
        CountTable(name="age", dims=("age_band",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in by_age.items())),
        CountTable(name="sex_age", dims=("sex", "age_band"), margin="persons",
                   cells=tuple(Cell(key=k, count=v) for k, v in both.items())),
    )
    return SiteAggregate(analysis="Characterize", kind="characterize", tables=tables)


def as_two_analyses(release: SiteAggregate) -> list[SiteAggregate]:
    """``release``'s tables as a characterization and a contingency table of one cohort."""
    def scoped(table: CountTable, *axes: str) -> CountTable:
        return table.model_copy(update={"scope": TableScope(cohort="c", axes=axes)})

    persons, sex, age, both = release.tables
    who = SiteAggregate(analysis="Who", kind="characterize", tables=(
        scoped(persons), scoped(sex, "sex"), scoped(age, "age_band")))
    table = SiteAggregate(analysis="Table", kind="contingency", tables=(
        scoped(persons), scoped(both.model_copy(update={"name": "table"}), "sex", "age_band")))
    return [who, table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--earlier", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    ids = np.arange(args.persons, dtype=np.int64) * 13 + 5
    print(describe())
    print(f"fingerprint {args.persons:,} ids: "
          f"{median_seconds(lambda: fingerprint(ids, KEY)):.3f} s")

    rules, k = DifferencingRules(max_repeats=10_000), 11
    new = fingerprint(ids, KEY)
    with tempfile.TemporaryDirectory() as tmp, \
            ReleaseLedger(Path(tmp) / "ledger.sqlite") as book:
        with book._change():  # set-up in one transaction
            for i in range(args.earlier):
                # the same size, 12 persons apart: read in full, and not refused
                swapped = np.delete(new, rng.choice(new.size, size=6, replace=False))
                near = np.sort(np.concatenate([swapped, rng.integers(
                    0, 2**63, size=6, dtype=np.uint64)]))
                book._insert("ann", f"s{i}", "characterize", "x", near)
                other = fingerprint(ids + (i + 1) * 10_000_000, KEY)
                book._insert("bob", f"s{i}", "characterize", "x", other)
        # each run a study of its own (a study's own populations are not queries again)
        for who in ("ann", "bob"):
            runs = iter(range(10**6))
            spent = median_seconds(lambda who=who, runs=runs: _try_admit(
                book, who, f"new-{next(runs)}", new, rules, k))
            kind = "near-copies" if who == "ann" else "unrelated populations"
            print(f"ledger admission of {args.persons:,} persons against {args.earlier} "
                  f"earlier {kind}: {spent:.3f} s")

    release = linked_release(rng)
    policy = DisclosurePolicy()
    cells = sum(len(t.cells) for t in release.tables)
    print(f"suppression of a release of {len(release.tables)} linked tables ({cells} cells): "
          f"{median_seconds(lambda: enforce(release, policy)):.3f} s")
    task = as_two_analyses(release)
    together = median_seconds(lambda: enforce_release(task, policy))
    alone = median_seconds(lambda: [enforce(a, policy) for a in task])
    print(f"suppression of the same tables as 2 analyses of one task, together: "
          f"{together:.3f} s; one at a time: {alone:.3f} s")

    table = CountTable(name="age", dims=("age_band",), margin=None,
                       cells=tuple(Cell(key=(str(i),), count=int(c))
                                   for i, c in enumerate(rng.integers(20, 500, size=20))))
    noisy = SiteAggregate(analysis="C", kind="characterize", tables=(table,))
    print(f"OpenDP laplace noise on a 20-cell table: "
          f"{median_seconds(lambda: apply_dp(noisy, PrivacyRules(enabled=True))):.4f} s")

    hub = SigningKey.generate()
    keys = {hub.key_id: hub.public()}
    task = {"task_id": "tk-1", "study": {"analyses": [{"kind": "glm"}] * 20},
            "states": {"beta": list(range(25))}}
    sign = median_seconds(lambda: sign_envelope(task, hub, signer="hub"), runs=50)
    envelope = sign_envelope(task, hub, signer="hub")
    check = median_seconds(lambda: open_envelope(envelope, keys, max_age_seconds=300,
                                                 seen=lambda nonce: False), runs=50)
    body = {"cells": [{"key": [str(i)], "count": i} for i in range(2000)]}
    big = median_seconds(lambda: hub.sign(body), runs=20)
    print(f"sign a task: {sign * 1000:.2f} ms; check it at the site: {check * 1000:.2f} ms; "
          f"sign a 50 kB release: {big * 1000:.2f} ms")


def _try_admit(book: ReleaseLedger, who: str, study: str, fps: np.ndarray,
               rules: DifferencingRules, k: int) -> None:
    book.admit(who, study, "characterize", {"x": fps}, rules, k)


if __name__ == "__main__":
    main()
