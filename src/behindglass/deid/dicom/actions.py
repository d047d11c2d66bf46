"""The de-identification engine: walks a dataset (and every nested sequence item) and applies
the table's action to each element.

Action semantics (PS3.15 E.1.1 and Table E.1-1):

* ``D`` dummy value of the element's VR (PN/text ``ANONYMOUS``, DA ``20000101``, numbers 0,
  UI a keyed new UID); a sequence becomes one empty item, because a D-sequence (Content,
  Graphic Annotation, Verifying Observer ...) holds free text that header rules cannot
  clean;
* ``Z`` zero-length value (a sequence: no items);
* ``X`` removed;
* ``K`` kept; a kept sequence is walked, so its items are de-identified too;
* ``C`` cleaned: DA and the date part of DT move by the patient's day offset, TM is kept
  (a whole-day shift does not change the time of day), text becomes ``CLEANED``;
* ``U`` every UID value replaced by its keyed new UID (:mod:`.uids`).

Beyond the table, on purpose: public attributes the table does not list are kept (Annex E
lists what must go), except that unlisted dates (DA, DT) are never kept verbatim (shifted
in ``shift`` mode, removed in ``remove`` mode) and unlisted person names (PN) are emptied;
ages (AS) that are kept are capped at ``090Y``; private attributes are removed unless
allow-listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import ExplicitVRLittleEndian

from behindglass.core.errors import DeidError
from behindglass.deid.dates import shift_days as keyed_shift_days
from behindglass.deid.dicom.burned_in import burned_in_reason
from behindglass.deid.dicom.config import DicomDeidConfig, PrivateTag
from behindglass.deid.dicom.profile import effective_action
from behindglass.deid.dicom.report import FileReport
from behindglass.deid.dicom.uids import UidMapper
from behindglass.deid.pseudonym import pseudonymize

DUMMY_TEXT = "ANONYMOUS"
CLEANED_TEXT = "CLEANED"
DUMMY_DATE = "20000101"
DUMMY_DATETIME = "20000101000000"
DUMMY_TIME = "000000"
PROFILE_NAME = "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile"

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}
_NUMBER_TEXT_VRS = {"DS", "IS"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_NUMBER_VRS = {"FL", "FD", "SL", "SS", "SV", "UL", "US", "UV", "AT", "US or SS", "US or OW",
               "US or SS or OW", "OB or OW"}

_TAG_PATIENT_ID = Tag(0x0010, 0x0020)
_TAG_STUDY_UID = Tag(0x0020, 0x000D)


def _values(elem: DataElement) -> list[str]:
    v = elem.value
    if v is None or v == "":
        return []
    if isinstance(v, MultiValue | list | tuple):
        return [str(x) for x in v]
    return [str(v)]


def _set_values(elem: DataElement, values: list[str]) -> None:
    elem.value = values[0] if len(values) == 1 else values


def zero_length(elem: DataElement) -> None:
    """Z: keep the element with an empty value."""
    if elem.VR == "SQ":
        elem.value = Sequence()
    elif elem.VR in _BINARY_VRS:
        elem.value = b""
    elif elem.VR in _TEXT_VRS | _NUMBER_TEXT_VRS | {"DA", "DT", "TM", "AS", "UI"}:
        elem.value = ""
    else:
        elem.value = None


def shift_date(value: str, days: int) -> str | None:
    """A DA value moved by ``days``; None when it is not a full YYYYMMDD date."""
    s = value.strip()
    if len(s) != 8 or not s.isdigit():
        return None
    try:
        d = dt.date(int(s[:4]), int(s[4:6]), int(s[6:])) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def shift_datetime(value: str, days: int) -> str | None:
    """A DT value with its date part moved; time, fraction and UTC offset kept."""
    s = value.strip()
    head = shift_date(s[:8], days) if len(s) >= 8 else None
    return None if head is None else head + s[8:]


def cap_age(value: str) -> str:
    """AS ages over 89 years become ``090Y`` (the HIPAA Safe Harbor age band)."""
    s = value.strip()
    if len(s) == 4 and s[:3].isdigit() and s[3] == "Y" and int(s[:3]) > 89:
        return "090Y"
    return s


class Deidentifier:
    """Applies a :class:`DicomDeidConfig` to datasets; reuse one per run (it caches UIDs
    and per-patient offsets)."""

    def __init__(self, config: DicomDeidConfig) -> None:
        self.config = config
        self.uid = UidMapper(config.secret)
        self._shifts: dict[str, int] = {}

    # -- dates -------------------------------------------------------------------------------
    def shift_for(self, person_key: str) -> int:
        """The day offset of a person key (the original PatientID)."""
        if person_key in self._shifts:
            return self._shifts[person_key]
        source = self.config.shift_days
        if source is None:
            days = int(keyed_shift_days([person_key], self.config.secret,
                                        self.config.max_shift_days)[0])
        elif isinstance(source, Mapping):
            if person_key not in source:
                raise DeidError("the date-shift mapping has no offset for this file's patient "
                                "(its PatientID is not a key of the mapping)")
            days = int(source[person_key])
        else:
            days = int(source(person_key))
        self._shifts[person_key] = days
        return days

    def person_id(self, person_key: str) -> str:
        """The OMOP person_id of ``person_key`` as ingest computes it, as decimal text."""
        return str(int(pseudonymize([person_key], self.config.secret, "person")[0]))

    # -- the walk ----------------------------------------------------------------------------
    def deidentify(self, ds: Dataset) -> FileReport:
        """De-identify ``ds`` in place and return what was done."""
        report = FileReport()
        report.modality = str(ds.get("Modality", "") or "").strip()[:16]
        report.burned_in_reason = burned_in_reason(ds)
        key = self._person_key(ds)
        shift: list[int] = []  # computed on first use: files without dates need no offset

        def days() -> int:
            if not shift:
                shift.append(self.shift_for(key))
            return shift[0]

        link = (self.config.patient_id == "person_id" and bool(key)
                and not key.startswith("study:") and self._action(_TAG_PATIENT_ID, "LO") == "Z")
        self._walk(ds, report, days)
        if link and _TAG_PATIENT_ID in ds:
            # Z/D's D branch; recounted so the report says what was done.
            ds[_TAG_PATIENT_ID].value = self.person_id(key)
            report.actions["Z"] -= 1
            report.actions["D"] += 1
        report.dates_shifted = self.config.dates == "shift"
        self._mark(ds)
        self._file_meta(ds)
        return report

    @staticmethod
    def _person_key(ds: Dataset) -> str:
        if _TAG_PATIENT_ID in ds:
            # LO values are space-padded to even length; the key is the value without them.
            pid = str(ds[_TAG_PATIENT_ID].value or "").strip()
            if pid:
                return pid
        # No PatientID: the study still moves as one, keyed on its original UID (the prefix
        # keeps such keys apart from real PatientIDs).
        if _TAG_STUDY_UID in ds:
            return "study:" + str(ds[_TAG_STUDY_UID].value or "").strip()
        return ""

    def _action(self, tag: BaseTag, vr: str) -> str:
        cfg = self.config
        if int(tag) in cfg.overrides:
            return cfg.overrides[int(tag)]
        row = cfg.profile.lookup(int(tag))
        if row is None:
            if vr in ("DA", "DT"):
                return "C" if cfg.dates == "shift" else "X"
            return "Z" if vr == "PN" else "K"
        # The option's C means "move the date"; on a non-temporal VR (Timezone Offset From
        # UTC, Functional Sync Pulse) there is nothing to move, so the basic action applies.
        if cfg.dates == "shift" and row.dates_option == "C" and vr in ("DA", "DT", "TM"):
            return "C"
        return effective_action(row.action, vr)

    def _walk(self, ds: Dataset, report: FileReport, days: Callable[[], int]) -> None:
        keep_private = self._kept_private(ds)
        for tag in list(ds.keys()):
            if tag.is_private:
                if int(tag) in keep_private:
                    report.private_kept += 1
                else:
                    del ds[tag]
                    report.private_removed += 1
                continue
            if tag.group == 0x0002:  # file meta is rebuilt separately
                del ds[tag]
                continue
            elem = ds[tag]
            action = self._action(tag, elem.VR)
            report.actions[action] += 1
            self._apply(ds, tag, elem, action, report, days)

    def _kept_private(self, ds: Dataset) -> set[int]:
        """Tags of allow-listed private elements in ``ds`` plus their creator elements."""
        allowed = self.config.keep_private
        if not allowed:
            return set()
        plain = {a for a in allowed if isinstance(a, int)}
        blocks = [a for a in allowed if isinstance(a, PrivateTag)]
        kept: set[int] = set()
        tags = list(ds.keys())
        for tag in tags:
            if not tag.is_private or tag.element < 0x1000:
                continue
            creator_tag = Tag(tag.group, tag.element >> 8)
            creator = str(ds[creator_tag].value).strip() if creator_tag in ds else None
            hit = int(tag) in plain or any(
                b.group == tag.group and b.creator == creator and b.offset == tag.element & 0xFF
                for b in blocks
            )
            if hit:
                kept.add(int(tag))
                if creator is not None:
                    kept.add(int(creator_tag))
        return kept

    def _apply(self, ds: Dataset, tag: BaseTag, elem: DataElement, action: str,
               report: FileReport, days: Callable[[], int]) -> None:
        vr = elem.VR
        if action == "X":
            del ds[tag]
        elif action == "Z":
            zero_length(elem)
        elif action == "D":
            self._dummy(elem)
        elif action == "U":
            if vr == "UI":
                _set_values(elem, [self.uid(v) for v in _values(elem)])
            elif vr == "SQ":
                self._walk_items(elem, report, days)
        elif action == "C":
            self._clean(elem, report, days)
        else:  # K
            if vr == "SQ":
                self._walk_items(elem, report, days)
            elif vr == "AS":
                _set_values(elem, [cap_age(v) for v in _values(elem)])

    def _walk_items(self, elem: DataElement, report: FileReport,
                    days: Callable[[], int]) -> None:
        for item in elem.value or []:
            self._walk(item, report, days)

    def _dummy(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence([Dataset()])
        elif vr == "UI":
            _set_values(elem, [self.uid(v) for v in _values(elem)] or [self.uid("dummy")])
        elif vr == "DA":
            elem.value = DUMMY_DATE
        elif vr == "DT":
            elem.value = DUMMY_DATETIME
        elif vr == "TM":
            elem.value = DUMMY_TIME
        elif vr == "AS":
            elem.value = "000Y"
        elif vr in _NUMBER_TEXT_VRS:
            elem.value = "0"
        elif vr in _TEXT_VRS:
            elem.value = DUMMY_TEXT
        elif vr in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:
            elem.value = 0

    def _clean(self, elem: DataElement, report: FileReport, days: Callable[[], int]) -> None:
        vr = elem.VR
        if vr in ("DA", "DT"):
            values = _values(elem)
            if not values:
                return
            move = shift_date if vr == "DA" else shift_datetime
            shifted = [move(v, days()) for v in values]
            if any(s is None for s in shifted):
                zero_length(elem)  # a partial or malformed date cannot be shifted safely
            else:
                _set_values(elem, [s for s in shifted if s is not None])
        elif vr == "TM":
            return
        elif vr == "SQ":
            self._walk_items(elem, report, days)
        elif vr == "AS":
            _set_values(elem, [cap_age(v) for v in _values(elem)])
        elif vr in _TEXT_VRS and vr != "CS":
            if _values(elem):
                elem.value = CLEANED_TEXT
        else:
            # No meaningful "similar value" for codes, numbers or binary: emptying it is safe.
            zero_length(elem)

    # -- what the output says about itself -----------------------------------------------------
    def _mark(self, ds: Dataset) -> None:
        shifted = self.config.dates == "shift"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [
            "PS3.15 E.1 Basic Application Confidentiality Profile",
            "Modified Dates Option: per-patient day shift" if shifted else "Dates removed",
            "behindglass deid.dicom",
        ]
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if shifted:
            codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates "
                                    "Option"))
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"

    def _file_meta(self, ds: Dataset) -> None:
        """A fresh file meta (the old one may carry a source AE title) with the new UIDs."""
        old = getattr(ds, "file_meta", None) or FileMetaDataset()
        meta = FileMetaDataset()
        sop_class = ds.get("SOPClassUID") or old.get("MediaStorageSOPClassUID")
        if sop_class:
            meta.MediaStorageSOPClassUID = sop_class
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif old.get("MediaStorageSOPInstanceUID"):
            meta.MediaStorageSOPInstanceUID = self.uid(str(old.MediaStorageSOPInstanceUID))
        meta.TransferSyntaxUID = old.get("TransferSyntaxUID") or ExplicitVRLittleEndian
        ds.file_meta = meta
        if isinstance(ds, FileDataset):
            ds.preamble = b"\x00" * 128  # the preamble is free bytes: it can hold anything
            ds.filename = None


def read_dicom(path: str | Path) -> Dataset:
    """Read one DICOM file, or raise :class:`DeidError` naming it and the reason."""
    p = Path(path)
    try:
        return pydicom.dcmread(p)
    except InvalidDicomError:
        raise DeidError(f"{p}: not a DICOM file (no DICM header)") from None
    except FileNotFoundError:
        raise DeidError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise DeidError(f"{p}: is a directory, not a DICOM file") from None
    except OSError as exc:
        raise DeidError(f"{p}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except Exception as exc:  # pydicom raises many types on corrupt data
        raise DeidError(f"{p}: not readable as DICOM ({type(exc).__name__})") from None


def deidentify_file(
    source: Dataset | str | Path, config: DicomDeidConfig, *,
    deidentifier: Deidentifier | None = None,
) -> tuple[Dataset, FileReport]:
    """De-identify one dataset (in place) or one file (read, not modified on disk).

    Pass one ``deidentifier`` for many files of a run to share its caches; UIDs and shifts
    are keyed functions, so results are the same either way.
    """
    ds = source if isinstance(source, Dataset) else read_dicom(source)
    engine = deidentifier or Deidentifier(config)
    return ds, engine.deidentify(ds)
