"""Site deny-lists: the identifiers a site already holds in its structured data.

A hospital knows its patients', relatives' and staff's names, its MRNs, its patients'
addresses and phone numbers and its own places: the strongest evidence of PHI in its notes.
:class:`SiteLists` holds them per label; the ``site_list`` recognizer finds them in text.

On disk a folder of UTF-8 text files, one per label (``NAME.txt``, ``MRN.txt``,
``STREET.txt``, ...), one value per line, plus ``manifest.json`` recording the format
version and counts. Files are written to a temporary folder and renamed into place, so a
reader never sees half a set of lists. The lists are PHI: they never leave the site.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.deid.text.labels import LABELS

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SiteLists:
    """Values per label. NAME values are whole names ("Maria O'Neil"); the recognizer also
    matches their parts. Identifier values are kept as written; matching ignores case and
    the separators inside them."""

    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Matching indexes built once per SiteLists by the recognizer (not part of equality).
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.values) - set(LABELS))
        if unknown:
            raise LoadError(f"site lists carry unknown label(s) {', '.join(unknown)}; "
                            f"known: {', '.join(LABELS)}")

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, str]]) -> SiteLists:
        """From ``(label, value)`` pairs; blank values are dropped, values are stripped."""
        collected: dict[str, set[str]] = {}
        for label, value in pairs:
            cleaned = " ".join(str(value).split())
            if cleaned:
                collected.setdefault(label, set()).add(cleaned)
        return cls({label: frozenset(vals) for label, vals in collected.items()})

    def get(self, label: str) -> frozenset[str]:
        return self.values.get(label, frozenset())

    def counts(self) -> dict[str, int]:
        return {label: len(vals) for label, vals in sorted(self.values.items())}

    def merged(self, other: SiteLists) -> SiteLists:
        labels = set(self.values) | set(other.values)
        return SiteLists({lb: self.get(lb) | other.get(lb) for lb in labels})

    def save(self, folder: Path | str) -> Path:
        """Write the lists to ``folder`` (replacing it whole)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            os.chmod(tmp, 0o700)
            for label, vals in sorted(self.values.items()):
                bad = [v for v in vals if "\n" in v or "\r" in v]
                if bad:
                    raise LoadError(f"a {label} value contains a line break", file=str(folder))
                (tmp / f"{label}.txt").write_text("".join(f"{v}\n" for v in sorted(vals)),
                                                  encoding="utf-8")
            (tmp / MANIFEST).write_text(json.dumps(
                {"format": "behindglass-site-lists", "version": FORMAT_VERSION,
                 "counts": self.counts()}, indent=2) + "\n", encoding="utf-8")
            if folder.exists():
                old = folder.with_name(f".{folder.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                folder.rename(old)
                tmp.rename(folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> SiteLists:
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise LoadError(f"not a site-lists folder (no {MANIFEST})", file=str(folder))
        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LoadError(f"unreadable manifest: {exc}", file=str(manifest)) from exc
        if meta.get("format") != "behindglass-site-lists" or meta.get("version") != FORMAT_VERSION:
            raise LoadError(f"unsupported site-lists format {meta.get('format')!r} "
                            f"version {meta.get('version')!r}", file=str(manifest))
        values: dict[str, frozenset[str]] = {}
        for path in sorted(folder.glob("*.txt")):
            label = path.stem
            if label not in LABELS:
                raise LoadError(f"unknown label {label!r} (file name must be a PHI label)",
                                file=str(path))
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise LoadError(f"not UTF-8: {exc}", file=str(path)) from exc
            values[label] = frozenset(v for v in (" ".join(x.split()) for x in lines) if v)
        return cls(values)
