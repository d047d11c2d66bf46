"""i2b2 2014 de-identification XML: one ``<id>.xml`` per note.

::

    <?xml version="1.0" encoding="UTF-8" ?>
    <deIdi2b2>
    <TEXT><![CDATA[...note text...]]></TEXT>
    <TAGS>
    <NAME id="P0" start="10" end="22" text="Maria O'Neil" TYPE="PATIENT" comment="" \
subtype="patient" />
    </TAGS>
    </deIdi2b2>

Our labels map to the i2b2 categories (NAME, AGE, DATE, CONTACT, ID, LOCATION) and TYPE
attributes; the extra ``subtype`` attribute keeps NAME relatives apart from patients
(i2b2 has no RELATIVE type) so that write -> read is exact. Attribute values are escaped
with character references, which XML parsers read back unchanged, including newlines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from behindglass.core.errors import LoadError
from behindglass.synth.notes.manifest import check_id, read_manifest, write_manifest
from behindglass.synth.notes.model import Note, NoteError, Span

# our label -> (i2b2 element, TYPE)
TO_I2B2: dict[str, tuple[str, str]] = {
    "DATE": ("DATE", "DATE"), "AGE": ("AGE", "AGE"), "PHONE": ("CONTACT", "PHONE"),
    "FAX": ("CONTACT", "FAX"), "EMAIL": ("CONTACT", "EMAIL"), "URL": ("CONTACT", "URL"),
    "IP": ("CONTACT", "IPADDR"), "SSN": ("ID", "SSN"), "MRN": ("ID", "MEDICALRECORD"),
    "ACCOUNT": ("ID", "ACCOUNT"), "HEALTH_PLAN": ("ID", "HEALTHPLAN"),
    "LICENSE": ("ID", "LICENSE"), "DEVICE": ("ID", "DEVICE"), "VEHICLE": ("ID", "VEHICLE"),
    "STREET": ("LOCATION", "STREET"), "CITY": ("LOCATION", "CITY"),
    "STATE": ("LOCATION", "STATE"), "ZIP": ("LOCATION", "ZIP"),
    "INSTITUTION": ("LOCATION", "HOSPITAL"),
}
FROM_I2B2 = {v: k for k, v in TO_I2B2.items()} | {("LOCATION", "ORGANIZATION"): "INSTITUTION"}
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_NAME_TYPE = {"patient": "PATIENT", "relative": "PATIENT", "clinician": "DOCTOR"}
_NAME_SUBTYPE = {"PATIENT": "patient", "DOCTOR": "clinician"}


def _cdata(text: str) -> str:
    # "]]>" cannot occur inside one CDATA section; split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(note: Note) -> str:
    if _UNSAFE.search(note.text):
        # XML parsers turn "\r\n" into "\n" and reject control characters: offsets would move.
        raise NoteError(f"note {note.id}: text has carriage returns or control characters, "
                        "which i2b2 XML cannot carry unchanged")
    tags = []
    for i, span in enumerate(note.spans):
        if span.label == "NAME":
            element, kind = "NAME", _NAME_TYPE.get(span.subtype or "", "PATIENT")
        else:
            element, kind = TO_I2B2[span.label]
        # An empty subtype says "none" explicitly, where TYPE alone would imply one.
        extra = (f" subtype={quoteattr(span.subtype or '')}"
                 if span.subtype is not None or span.label == "NAME" else "")
        tags.append(f'<{element} id="P{i}" start="{span.start}" end="{span.end}" '
                    f'text={quoteattr(span.text)} TYPE="{kind}" comment=""{extra} />\n')
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<deIdi2b2>\n<TEXT>' + _cdata(note.text)
            + "</TEXT>\n<TAGS>\n" + "".join(tags) + "</TAGS>\n</deIdi2b2>\n")


def from_xml(data: bytes, note_id: str, kind: str, patient: str | None, source: str) -> Note:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise LoadError(f"not XML: {exc}", file=source) from exc
    text_node, tags = root.find("TEXT"), root.find("TAGS")
    if root.tag != "deIdi2b2" or text_node is None:
        raise LoadError("not an i2b2 deIdi2b2 document", file=source)
    spans = []
    for tag in tags if tags is not None else ():
        kind_attr = tag.get("TYPE", "")
        try:
            label = "NAME" if tag.tag == "NAME" else FROM_I2B2[(tag.tag, kind_attr)]
            subtype = tag.get("subtype")
            if subtype is None and label == "NAME":  # a file written elsewhere
                subtype = _NAME_SUBTYPE.get(kind_attr)
            spans.append(Span(int(tag.get("start", "")), int(tag.get("end", "")), label,
                              tag.get("text", ""), subtype or None))
        except (KeyError, ValueError, NoteError) as exc:
            raise LoadError(f"unsupported or malformed tag <{tag.tag} TYPE={kind_attr!r}>",
                            file=source) from exc
    spans.sort(key=lambda s: (s.start, s.end))
    try:
        return Note(note_id, kind, text_node.text or "", tuple(spans), patient)
    except NoteError as exc:
        raise LoadError(str(exc), file=source) from exc


def write_i2b2(notes: Iterable[Note], folder: Path | str) -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Note] = []
    for note in notes:
        (folder / f"{check_id(note.id)}.xml").write_bytes(to_xml(note).encode("utf-8"))
        written.append(note)
    write_manifest(folder, written)
    return len(written)


def read_i2b2(folder: Path | str) -> list[Note]:
    folder = Path(folder)
    notes = []
    for note_id, kind, patient in read_manifest(folder, ".xml"):
        path = folder / f"{note_id}.xml"
        if not path.exists():
            raise LoadError(f"missing {path.name}", file=str(folder))
        notes.append(from_xml(path.read_bytes(), note_id, kind, patient, str(path)))
    return notes
