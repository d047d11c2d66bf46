"""Membership fingerprints: what the release ledger keeps instead of person ids.

The differencing defence must remember *who* was in each released population, so that a
later population can be compared with it, but the ledger is a file at rest and must not
become a second copy of the site's person ids. Each id is therefore replaced by a keyed
64-bit pseudorandom value: without the site's key, a fingerprint cannot be linked back to a
person (not even by trying every small integer id), and with the same key the same person
always gets the same fingerprint, which is all set comparison needs.

The keyed function is SipHash-2-4, a pseudorandom function designed for short inputs under a
128-bit secret key. It is computed here on whole numpy arrays (a few dozen vector operations)
because a per-id ``hashlib.blake2b`` loop costs about a second per million persons, paid on
every release of a large cohort. Its output on the reference test vector is pinned by a test.

Two distinct persons share a fingerprint with probability about n²/2⁶⁵ (3·10⁻⁸ for a million
persons); such a collision can only make a set look one person smaller, never larger.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from behindglass.core.errors import DisclosureError

MIN_KEY_BYTES = 16
_KEY_PERSON = b"bg-ledger-fp-v1"  # domain separation: this key serves only fingerprints

_U64 = np.uint64
_C0, _C1 = _U64(0x736F6D6570736575), _U64(0x646F72616E646F6D)
_C2, _C3 = _U64(0x6C7967656E657261), _U64(0x7465646279746573)
_FINAL_BLOCK = _U64(8 << 56)  # the message length (8 bytes) in the top byte, as SipHash pads
_FF = _U64(0xFF)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U64(r)) | (x >> _U64(64 - r))


def _sip_rounds(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray,
                rounds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    for _ in range(rounds):
        v0 += v1
        v1 = _rotl(v1, 13)
        v1 ^= v0
        v0 = _rotl(v0, 32)
        v2 += v3
        v3 = _rotl(v3, 16)
        v3 ^= v2
        v0 += v3
        v3 = _rotl(v3, 21)
        v3 ^= v0
        v2 += v1
        v1 = _rotl(v1, 17)
        v1 ^= v2
        v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24_u64(words: np.ndarray, key16: bytes) -> np.ndarray:
    """SipHash-2-4 of each 8-byte little-endian message in ``words`` (uint64) under a
    16-byte key: the reference algorithm, vectorised over the array."""
    if len(key16) != 16:
        raise ValueError("SipHash takes a 16-byte key")
    k0 = _U64(int.from_bytes(key16[:8], "little"))
    k1 = _U64(int.from_bytes(key16[8:], "little"))
    m = np.asarray(words, dtype=np.uint64)
    with np.errstate(over="ignore"):  # modular arithmetic on 64-bit words is the algorithm
        v0 = np.full(m.shape, k0 ^ _C0, dtype=np.uint64)
        v1 = np.full(m.shape, k1 ^ _C1, dtype=np.uint64)
        v2 = np.full(m.shape, k0 ^ _C2, dtype=np.uint64)
        v3 = np.full(m.shape, k1 ^ _C3, dtype=np.uint64) ^ m
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= m
        v3 ^= _FINAL_BLOCK
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= _FINAL_BLOCK
        v2 ^= _FF
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 4)
        return v0 ^ v1 ^ v2 ^ v3


def _fingerprint_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise DisclosureError(f"the ledger's fingerprint key must be at least {MIN_KEY_BYTES} "
                              "bytes of the site's secret")
    return hashlib.blake2b(key, digest_size=16, person=_KEY_PERSON).digest()


def fingerprint(person_ids: np.ndarray, key: bytes) -> np.ndarray:
    """Sorted, distinct keyed 64-bit fingerprints (uint64) of ``person_ids``.

    ``key`` is a site secret (at least 16 bytes); the same key must be used for every
    release the ledger compares, or no two sets would ever match.
    """
    ids = np.asarray(person_ids)
    if ids.ndim != 1:
        raise DisclosureError("person ids for a fingerprint must be a one-dimensional array")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise DisclosureError("person ids for a fingerprint must be integers")
    # the little-endian bytes of the int64 id are the message, whatever this machine's order
    words = ids.astype("<i8", copy=False).view("<u8").astype(np.uint64, copy=False)
    return sorted_unique(siphash24_u64(words, _fingerprint_key(key)))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a uint64 array, by sort and mask: numpy 2's ``unique`` takes several
    times longer on a million values."""
    ordered = np.sort(np.asarray(values, dtype=np.uint64))
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def set_digest(fps: np.ndarray) -> str:
    """sha256 (hex) of a fingerprint set: equal digests mean the very same persons."""
    arr = np.asarray(fps, dtype=np.uint64)
    return hashlib.sha256(arr.astype("<u8", copy=False).tobytes()).hexdigest()


def symmetric_difference_size(a: np.ndarray, b: np.ndarray) -> int:
    """|A Δ B| of two sorted, distinct fingerprint sets, without building either difference
    (only its size is ever needed).

    The two sorted runs are merged by a stable sort (a single O(n) merge: timsort finds the
    runs), and every element the sets share then sits next to its twin.
    """
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    if a.size == 0 or b.size == 0:
        return int(a.size + b.size)
    merged = np.sort(np.concatenate([a, b]), kind="stable")
    common = int(np.count_nonzero(merged[1:] == merged[:-1]))
    return int(a.size + b.size - 2 * common)


def head_difference_size(a: np.ndarray, b_head: np.ndarray, b_size: int) -> int:
    """A lower bound of |A Δ B| from ``b_head``, the smallest elements of B (all of them when
    ``b_size`` equals its length): both sets restricted to the values up to where both
    heads are complete differ in at most as many elements as the whole sets.

    Fingerprints are uniform, so two different populations already differ by many
    elements at the start of the hash range: most earlier sets are ruled out from a few
    thousand values, without reading their stored blob.
    """
    a = np.asarray(a, dtype=np.uint64)
    if b_head.size == b_size:
        return symmetric_difference_size(a, b_head)  # the head is all of B
    if b_head.size == 0:
        return 0  # nothing known of B
    top = b_head[-1]  # B is known completely up to here, A everywhere
    return symmetric_difference_size(a[: np.searchsorted(a, top, side="right")], b_head)


def pack(fps: np.ndarray) -> bytes:
    """A sorted fingerprint set as a compact blob: gaps between neighbours (their top bytes
    are mostly zero in a large set), bytes grouped by position, then zlib."""
    arr = np.asarray(fps, dtype=np.uint64)
    gaps = np.diff(arr, prepend=np.uint64(0)).astype("<u8", copy=False)
    planes = gaps.view(np.uint8).reshape(-1, 8).T
    # run-length matching only: the high planes are runs of zeros and the low ones random,
    # so searching for longer matches would cost twice the time for no gain
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    return packer.compress(np.ascontiguousarray(planes).tobytes()) + packer.flush()


def unpack(blob: bytes) -> np.ndarray:
    """The fingerprint set :func:`pack` stored."""
    raw = np.frombuffer(zlib.decompress(blob), dtype=np.uint8)
    if raw.size % 8:
        raise DisclosureError("a stored fingerprint set is corrupt (length not a multiple of 8)")
    planes = raw.reshape(8, -1)
    gaps = planes[0].astype(np.uint64)
    for byte in range(1, 8):  # little-endian: plane j holds bits 8j..8j+7
        gaps |= planes[byte].astype(np.uint64) << np.uint64(8 * byte)
    with np.errstate(over="ignore"):
        return np.cumsum(gaps, dtype=np.uint64)
