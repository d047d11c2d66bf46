"""Keyed UID replacement: the same original UID gives the same new UID in every file and run.

``new = "2.25." + int(HMAC-SHA256(secret, "dicom-uid" + NUL + old)[:16])``. The ``2.25``
root (PS3.5 B.2: a UUID-derived UID) needs no registered organisation root, 128 bits make
collisions irrelevant, and the result is at most 44 characters (the limit is 64). Because
the map is a keyed function and not a table, every file of a study, and every reference to
an instance from another instance (Referenced SOP Instance UID, file meta), lands on the
same new value without any state shared between files or runs; a different secret gives
unrelated UIDs.
"""

from __future__ import annotations

from behindglass.deid.secret import SiteSecret

UID_NAMESPACE = "dicom-uid"
UID_ROOT = "2.25."


class UidMapper:
    """Maps original UIDs to keyed ``2.25.`` UIDs, caching within the mapper's lifetime."""

    def __init__(self, secret: SiteSecret) -> None:
        self._keyed = secret.keyed(UID_NAMESPACE)
        self._cache: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        # DICOM pads UIDs to even length with NUL; the padded and unpadded forms are one UID.
        key = str(uid).strip().rstrip("\x00")
        new = self._cache.get(key)
        if new is None:
            h = self._keyed.copy()
            h.update(key.encode("ascii", "backslashreplace"))
            new = UID_ROOT + str(int.from_bytes(h.digest()[:16], "big"))
            self._cache[key] = new
        return new
