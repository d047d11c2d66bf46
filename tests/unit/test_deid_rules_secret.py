"""Site secret handling and keyed pseudonyms (behindglass.deid.secret / .pseudonym)."""

from __future__ import annotations

import base64
import os
import pickle
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behindglass.core.errors import BehindGlassError
from behindglass.deid.pseudonym import (
    PseudonymCollisionError,
    pseudonym_text,
    pseudonymize,
)
from behindglass.deid.secret import (
    DeidError,
    InsecureSecretWarning,
    SecretError,
    SiteSecret,
    load_secret,
)

KEY = bytes(range(32))


@pytest.fixture
def secret() -> SiteSecret:
    return SiteSecret(KEY)


# --- the secret file --------------------------------------------------------------------


def test_generate_writes_mode_600_and_loads_back(tmp_path):
    path = tmp_path / "site" / "deid.key"
    made = SiteSecret.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == made
    assert [p.name for p in path.parent.iterdir()] == ["deid.key"]  # no temp file left


def test_generate_refuses_to_overwrite(tmp_path):
    path = tmp_path / "deid.key"
    first = SiteSecret.generate(path)
    with pytest.raises(SecretError, match="break linkage"):
        SiteSecret.generate(path)
    assert load_secret(path) == first
    assert SiteSecret.generate(path, overwrite=True) != first


@pytest.mark.parametrize(
    "encode",
    [lambda k: k, lambda k: k.hex().encode(), lambda k: base64.b64encode(k) + b"\n",
     lambda k: base64.urlsafe_b64encode(k).rstrip(b"=")],
    ids=["raw", "hex", "base64", "base64url-unpadded"],
)
def test_load_accepts_raw_hex_and_base64(tmp_path, encode):
    key = os.urandom(48)
    path = tmp_path / "k"
    path.write_bytes(encode(key))
    path.chmod(0o600)
    assert load_secret(path) == SiteSecret(key)


def test_missing_secret_is_a_clear_error(tmp_path):
    with pytest.raises(SecretError, match=r"no site secret found.*generate"):
        load_secret(tmp_path / "absent.key")


@pytest.mark.parametrize("content", [b"", os.urandom(31), b"ab" * 16, b"c2hvcnQ="])
def test_short_secret_is_refused(tmp_path, content):
    path = tmp_path / "k"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SecretError, match="at least 32"):
        load_secret(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_group_or_world_readable_secret_warns(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(KEY.hex().encode())
    path.chmod(0o644)
    with pytest.warns(InsecureSecretWarning, match="chmod 600"):
        load_secret(path)


def test_secret_never_shows_or_pickles(secret):
    for text in (repr(secret), str(secret), f"{secret}"):
        assert KEY.hex() not in text and "\\x00\\x01" not in text
        assert secret.fingerprint in text
    with pytest.raises(TypeError, match="never leaves"):
        pickle.dumps(secret)


def test_errors_belong_to_the_tree():
    assert issubclass(SecretError, BehindGlassError)
    assert issubclass(PseudonymCollisionError, DeidError)


# --- pseudonyms ---------------------------------------------------------------------------


def test_pseudonyms_are_stable_across_calls_and_input_types(secret):
    a = pseudonymize(["p1", "p2", "p1"], secret, "person")
    b = pseudonymize(pa.chunked_array([["p1"], ["p2", "p1"]]), secret, "person")
    assert a.dtype == np.int64 and a[0] == a[2] != a[1]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        pseudonymize(np.array([7, 8]), secret, "visit"),
        pseudonymize(["7", "8"], secret, "visit"),
    )


def test_pseudonyms_are_stable_across_loads_of_the_secret(tmp_path):
    path = tmp_path / "k"
    SiteSecret.generate(path)
    ids = pseudonymize(["x", "y"], load_secret(path), "person")
    np.testing.assert_array_equal(ids, pseudonymize(["x", "y"], load_secret(path), "person"))


def test_different_secrets_are_unlinkable():
    values = [f"MRN{i:06d}" for i in range(10_000)]
    a = pseudonymize(values, SiteSecret(os.urandom(32)), "person")
    b = pseudonymize(values, SiteSecret(os.urandom(32)), "person")
    assert not set(a.tolist()) & set(b.tolist())


def test_namespaces_separate_the_same_value(secret):
    values = [str(i) for i in range(1000)]
    spaces = ["person", "visit", "provider", "care_site"]
    ids = [set(pseudonymize(values, secret, ns).tolist()) for ns in spaces]
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            assert not ids[i] & ids[j]


def test_ids_are_positive_63_bit_and_distinct(secret):
    ids = pseudonymize(np.arange(50_000), secret, "person")
    assert ids.min() >= 1 and ids.max() <= 2**63 - 1
    assert np.unique(ids).size == ids.size


def test_null_keys_and_float_keys_are_refused(secret):
    with pytest.raises(DeidError, match="null"):
        pseudonymize(["a", None], secret, "person")
    with pytest.raises(DeidError, match="integers or text"):
        pseudonymize(np.array([1.0, 2.0]), secret, "person")
    with pytest.raises(DeidError, match="namespace"):
        pseudonymize(["a"], secret, "")


def test_collision_in_a_batch_raises_without_quoting_values(secret, monkeypatch):
    import behindglass.deid.pseudonym as mod

    monkeypatch.setattr(mod, "_digests_to_ids", lambda d: np.ones(len(d), dtype=np.int64))
    with pytest.raises(PseudonymCollisionError) as info:
        pseudonymize(["SECRET-MRN-1", "SECRET-MRN-2"], secret, "person")
    assert "SECRET-MRN" not in str(info.value)


def test_pseudonym_text_keeps_nulls_and_fits_varchar50(secret):
    out = pseudonym_text(["a", None, "a", ""], secret, "person_source").to_pylist()
    assert out[1] is None and out[0] == out[2] != out[3]
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in out if v is not None)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=50))
def test_property_ids_depend_only_on_value(values):
    secret = SiteSecret(KEY)
    ids = pseudonymize(values, secret, "person")
    single = {v: pseudonymize([v], secret, "person")[0] for v in set(values)}
    assert [single[v] for v in values] == ids.tolist()
    assert (ids > 0).all()


def test_empty_and_categorical_inputs(secret):
    assert pseudonymize([], secret, "person").shape == (0,)
    assert pseudonym_text([None], secret, "person").to_pylist() == [None]
    cat = pd.Series(["a", "b", "a"], dtype="category")
    np.testing.assert_array_equal(
        pseudonymize(cat, secret, "person"), pseudonymize(["a", "b", "a"], secret, "person")
    )
