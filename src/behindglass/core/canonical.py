"""Canonical JSON: one byte string per value, so hashes and signatures are stable."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept; the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value``, as hex."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
