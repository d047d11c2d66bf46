"""Keyed pseudonyms: source identifiers → stable, unlinkable OMOP ids.

``id = HMAC-SHA256(site secret, namespace + "\\x00" + value)``, first 8 bytes, mapped into
``[1, 2**63 - 1]`` (OMOP ids are signed BIGINT and we keep them positive). Consequences:

* the same secret, namespace and value give the same id in every table, run and load, so
  repeated extracts append to the same persons without a lookup table of real identifiers;
* another site (another secret) gets unrelated ids for the same MRN: nothing links them;
* namespaces (``person``, ``visit``, ``provider``, ``care_site`` …) keep a value that
  happens to be both a patient and an encounter key from colliding.

HMAC cannot be vectorised in numpy, so the hot path hashes each *distinct* value once
(event tables repeat person keys many times) with a pre-keyed HMAC that is ``copy()``-ed per
value, and the rest is numpy/pyarrow gathers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.core.errors import DeidError
from behindglass.deid.secret import SiteSecret

_MAX_ID = np.uint64(2**63 - 1)

ArrayLike = pa.Array | pa.ChunkedArray | pd.Series | np.ndarray | Sequence[Any]


class PseudonymCollisionError(DeidError):
    """Two different source values received the same pseudonym in one batch."""


def as_key_array(values: ArrayLike, *, what: str = "values") -> pa.Array:
    """Canonical string form of identifier values, as one Arrow array.

    Integers become their decimal text, so ``123`` and ``"123"`` are the same key (a source
    read once with and once without type inference still links). Floats are refused: ``1.0``
    versus ``1`` is exactly the kind of silent drift that breaks linkage between loads.
    """
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    elif isinstance(values, pd.Series):
        arr = pa.Array.from_pandas(values)
    else:
        arr = pa.array(values)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_floating(arr.type):
        raise DeidError(f"{what}: identifier keys must be integers or text, not {arr.type}")
    if pa.types.is_large_string(arr.type):
        return arr.cast(pa.string())
    if not pa.types.is_string(arr.type):
        if pa.types.is_null(arr.type):
            return arr.cast(pa.string())
        try:
            arr = arr.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DeidError(f"{what}: cannot use {arr.type} values as identifier keys") from exc
    return arr


def keyed_digests(
    keys: pa.Array, secret: SiteSecret, namespace: str, nbytes: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """HMAC every distinct non-null key once.

    Returns ``(codes, digests)``: ``codes[i]`` indexes the row of ``digests`` (shape
    ``(n_distinct, nbytes)``, uint8) for row ``i``; null rows get code ``-1``.
    """
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
    # Slice the UTF-8 bytes straight out of the Arrow buffers: no str objects to build.
    distinct = encoded.dictionary
    n = len(distinct)
    offsets = np.frombuffer(distinct.buffers()[1], dtype=np.int32)
    offsets = offsets[distinct.offset : distinct.offset + n + 1].tolist()
    data_buffer = distinct.buffers()[2]
    data = data_buffer.to_pybytes() if data_buffer is not None else b""
    copy = secret.keyed(namespace).copy
    parts = []
    append = parts.append
    for start, end in itertools.pairwise(offsets):  # the one Python loop
        h = copy()
        h.update(data[start:end])
        append(h.digest()[:nbytes])
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(n, nbytes)
    return codes.astype(np.int64, copy=False), buf


def _digests_to_ids(digests: np.ndarray) -> np.ndarray:
    """First 8 digest bytes (big-endian) → int64 in [1, 2**63 - 1]."""
    raw = np.ascontiguousarray(digests[:, :8]).view(">u8").ravel().astype(np.uint64)
    # Modulo (2**63 - 1) then +1: never 0 or negative; the bias is 2**-63, i.e. none.
    return (raw % _MAX_ID + np.uint64(1)).astype(np.int64)


def pseudonymize(values: ArrayLike, secret: SiteSecret, namespace: str) -> np.ndarray:
    """Keyed, stable, positive 63-bit ids for identifier ``values`` (int64 numpy array).

    Raises :class:`DeidError` on null keys (an OMOP id column cannot be null) and
    :class:`PseudonymCollisionError` if two distinct values of this batch share an id. The
    latter has probability ~n²/2**64; ingest should still check new ids against the store,
    because this function only sees one batch.
    """
    keys = as_key_array(values, what=f"{namespace} keys")
    if keys.null_count:
        raise DeidError(
            f"{namespace} keys: {keys.null_count} of {len(keys)} rows are null; "
            "an identifier column must not have nulls"
        )
    codes, digests = keyed_digests(keys, secret, namespace)
    distinct_ids = _digests_to_ids(digests)
    if np.unique(distinct_ids).size != distinct_ids.size:
        # Never put the colliding values in the message: they are the identifiers.
        raise PseudonymCollisionError(
            f"{namespace}: two distinct source values map to the same pseudonym in this "
            "batch; nothing was written (report this, it should practically never happen)"
        )
    return distinct_ids[codes]


def pseudonym_text(values: ArrayLike, secret: SiteSecret, namespace: str) -> pa.Array:
    """Keyed pseudonyms as 32-hex-character text for OMOP ``*_source_value`` columns.

    128 bits of the HMAC, so collisions are out of the question; nulls stay null. The text
    fits ``VARCHAR(50)`` and reveals nothing without the site secret.
    """
    keys = as_key_array(values, what=f"{namespace} source values")
    codes, digests = keyed_digests(keys, secret, namespace, nbytes=16)
    hex_distinct = np.array([d.hex() for d in map(bytes, digests)], dtype=object)
    out = np.empty(len(codes), dtype=object)
    valid = codes >= 0
    out[valid] = hex_distinct[codes[valid]]
    return pa.array(out, type=pa.string(), mask=~valid)
