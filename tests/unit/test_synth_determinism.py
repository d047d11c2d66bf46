"""Same arguments, same bytes: whatever the chunk size, worker count or output folder."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from behindglass.core.errors import BehindGlassError
from behindglass.synth import BLOCK, generate_site


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


PERSONS = BLOCK + 1_500  # two blocks, the second one partial


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    a = generate_site("midwest-academic", PERSONS, 42, tmp_path / "a")
    b = generate_site("midwest-academic", PERSONS, 42, tmp_path / "b", chunk_size=1_000,
                      workers=2)
    assert a.rows == b.rows
    assert _digests(a.out) == _digests(b.out)


def test_a_different_seed_gives_different_data(tmp_path: Path) -> None:
    a = generate_site("urban-brazil", 2_000, 1, tmp_path / "a")
    b = generate_site("urban-brazil", 2_000, 2, tmp_path / "b")
    da, db = _digests(a.out), _digests(b.out)
    assert da["person.csv"] != db["person.csv"]
    assert da["measurement.csv"] != db["measurement.csv"]
    assert da["concept.csv"] == db["concept.csv"]  # the vocabulary does not depend on the seed


def test_gzip_holds_the_same_text(tmp_path: Path) -> None:
    plain = generate_site("israel-centre", 1_500, 5, tmp_path / "plain")
    packed = generate_site("israel-centre", 1_500, 5, tmp_path / "packed", gzip=True)
    again = generate_site("israel-centre", 1_500, 5, tmp_path / "again", gzip=True)
    assert _digests(packed.out) == _digests(again.out)
    for table in ("person", "visit_occurrence", "cost", "concept"):
        text = gzip.decompress((packed.out / f"{table}.csv.gz").read_bytes())
        assert text == (plain.out / f"{table}.csv").read_bytes()


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "site"
    generate_site("canada-network", 300, 1, out)
    with pytest.raises(BehindGlassError, match="not empty"):
        generate_site("canada-network", 300, 2, out)
    report = generate_site("canada-network", 300, 2, out, overwrite=True)
    assert report.rows["person"] == 300
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no partial folders left


def test_failure_leaves_no_half_data_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from behindglass.synth import generate as module

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(module, "measurement_rows", boom)
    with pytest.raises(RuntimeError):
        generate_site("rural-community", 500, 1, tmp_path / "site")
    assert list(tmp_path.iterdir()) == []


def test_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BehindGlassError, match="unknown profile"):
        generate_site("nowhere", 10, 1, tmp_path / "x")
