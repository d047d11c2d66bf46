"""Which images may carry identifying text in their pixels (burned-in annotation).

Header de-identification cannot see text drawn into the pixels, and this module does no
OCR. It flags files for a human (or a pixel-cleaning tool) to review, so nothing that may
carry burned-in text passes silently:

1. Burned In Annotation (0028,0301) = ``YES``: flagged.
2. Burned In Annotation = ``NO``: trusted, not flagged (the modality asserted it).
3. Absent or any other value: flagged when the kind of object commonly carries text:
   a secondary-capture, encapsulated document (PDF/CDA) or video-photographic SOP class;
   an Encapsulated Document (0042,0011) element; a modality known for on-screen
   annotation (US, SC, OT, XA, RF, ES, XC, DOC); or Image Type (0008,0008) containing
   ``SECONDARY`` or ``SCREEN`` (screen captures, reformatted screenshots).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "secondary capture",
    "1.2.840.10008.5.1.4.1.1.7.1": "multi-frame single-bit secondary capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "multi-frame grayscale byte secondary capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "multi-frame grayscale word secondary capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "multi-frame true color secondary capture",
    "1.2.840.10008.5.1.4.1.1.104.1": "encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.104.2": "encapsulated CDA",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "video endoscopic",
    "1.2.840.10008.5.1.4.1.1.77.1.2.1": "video microscopic",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "video photographic",
}

_MODALITIES = {
    "US": "ultrasound",
    "SC": "secondary capture",
    "OT": "other",
    "XA": "X-ray angiography",
    "RF": "radio fluoroscopy",
    "ES": "endoscopy",
    "XC": "external camera photography",
    "DOC": "document",
}


def _text(value: object) -> str:
    return str(value or "").strip().upper()


def burned_in_reason(ds: Dataset) -> str | None:
    """Why ``ds`` may carry burned-in text, or None. Reasons never quote identifiers."""
    flag = _text(ds.get("BurnedInAnnotation"))
    if flag == "YES":
        return "BurnedInAnnotation is YES"
    if flag == "NO":
        return None
    sop_class = str(ds.get("SOPClassUID", "") or "").strip("\x00 ")
    if sop_class in _SOP_CLASSES:
        return f"{_SOP_CLASSES[sop_class]} SOP class without BurnedInAnnotation NO"
    if "EncapsulatedDocument" in ds:
        return "encapsulated document"
    modality = _text(ds.get("Modality"))
    if modality in _MODALITIES:
        return f"modality {modality} ({_MODALITIES[modality]}) without BurnedInAnnotation NO"
    image_type = ds.get("ImageType")
    values = [] if image_type is None else (
        [image_type] if isinstance(image_type, str) else list(image_type)
    )
    for v in values:
        upper = _text(v)
        if "SECONDARY" in upper or "SCREEN" in upper:
            return f"ImageType contains {'SECONDARY' if 'SECONDARY' in upper else 'SCREEN'}"
    return None
