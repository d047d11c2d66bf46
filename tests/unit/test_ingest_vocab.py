"""Code lookup, column resolution against the rule catalogue, and line numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from behindglass.ingest import vocab
from behindglass.ingest.reader import SyntheaFile, resolve_columns
from behindglass.synth import concepts as c


def test_code_map_by_vocabulary_and_system() -> None:
    codes = vocab.CodeMap()
    got = codes.map(pa.array(["44054006", " 59621000 ", "nope", None]), "SNOMED")
    assert got.tolist() == [c.T2DM, c.ESSENTIAL_HTN, 0, 0]
    assert codes.map(pa.array(["6809"]), "RxNorm").tolist() == [c.METFORMIN]
    assert codes.map(pa.array(["6809"]), "SNOMED").tolist() == [0]  # wrong vocabulary
    systems = vocab.vocabulary_of(pa.array(["http://snomed.info/sct", None, "ICD10"]), "LOINC")
    assert systems.to_pylist() == ["SNOMED", "LOINC", None]
    assert codes.map(pa.array(["44054006", "4548-4", "44054006"]), systems).tolist() == [
        c.T2DM, c.HBA1C, 0]


def test_fixed_lookups() -> None:
    assert vocab.lookup(pa.array(["Wellness", "urgentcare", "home", "x"]),
                        vocab.VISIT_CLASS).tolist() == [c.OUTPATIENT, c.EMERGENCY, c.HOME, 0]
    assert vocab.lookup(pa.array(["mL/min/{1.73_m2}", "kg/m2", "mm[Hg]"]), vocab.UNITS,
                        lower=False).tolist() == [c.ML_MIN_173, c.KG_M2, c.MMHG]


def test_columns_resolved_case_insensitively_and_denied_by_default() -> None:
    kept, dropped = resolve_columns("patients", ["id", "Birthdate", "ssn", "FAVOURITE_COLOUR",
                                                 "zip", "first"])
    assert kept == {"Id": "id", "BIRTHDATE": "Birthdate", "ZIP": "zip"}
    assert dropped == ["ssn", "FAVOURITE_COLOUR", "first"]
    kept, _ = resolve_columns("conditions", ["SYSTEM", "code", "PATIENT", "start"])
    assert set(kept) == {"SYSTEM", "CODE", "PATIENT", "START"}


def test_lines_skip_rejected_rows() -> None:
    f = SyntheaFile("patients", Path("patients.csv"), ["Id"])
    assert f.lines_of(np.array([1, 2, 5])) == [2, 3, 6]
    f.rejected_lines = np.array([3, 4, 8], dtype=np.int64)  # lines 3, 4 and 8 were malformed
    # accepted rows sit on lines 2, 5, 6, 7, 9, 10 …
    assert f.lines_of(np.array([1, 2, 3, 4, 5, 6])) == [2, 5, 6, 7, 9, 10]
