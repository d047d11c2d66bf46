"""DICOM header de-identification per DICOM PS3.15 Annex E (Basic Application Level
Confidentiality Profile, with the Retain Longitudinal Temporal Information with Modified
Dates Option when dates are shifted). See ``docs/deid-dicom.md``."""

from behindglass.deid.dicom.actions import (
    CLEANED_TEXT,
    DUMMY_TEXT,
    PROFILE_NAME,
    Deidentifier,
    deidentify_file,
    read_dicom,
)
from behindglass.deid.dicom.burned_in import burned_in_reason
from behindglass.deid.dicom.config import DicomDeidConfig, PrivateTag, parse_private_tag
from behindglass.deid.dicom.folder import deidentify_folder
from behindglass.deid.dicom.profile import (
    ACTION_CODES,
    TABLE_EDITION,
    Profile,
    ProfileError,
    ProfileRow,
    basic_profile,
    effective_action,
    read_profile,
)
from behindglass.deid.dicom.report import REPORT_NAME, FileReport, RunReport, SkippedFile
from behindglass.deid.dicom.uids import UidMapper

__all__ = [
    "ACTION_CODES",
    "CLEANED_TEXT",
    "DUMMY_TEXT",
    "PROFILE_NAME",
    "REPORT_NAME",
    "TABLE_EDITION",
    "Deidentifier",
    "DicomDeidConfig",
    "FileReport",
    "PrivateTag",
    "Profile",
    "ProfileError",
    "ProfileRow",
    "RunReport",
    "SkippedFile",
    "UidMapper",
    "basic_profile",
    "burned_in_reason",
    "deidentify_file",
    "deidentify_folder",
    "effective_action",
    "parse_private_tag",
    "read_dicom",
    "read_profile",
]
