"""Date strings shifted in their own style, and the text de-identifier's replacements."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from behindglass.core.errors import DeidError
from behindglass.deid.dates import shift_days
from behindglass.deid.secret import SiteSecret
from behindglass.deid.text import date_text
from behindglass.deid.text.deidentifier import TextDeidentifier
from behindglass.deid.text.model import Detection
from behindglass.deid.text.surrogates import Surrogates, shifted_date

SECRET = SiteSecret(b"x" * 32)
OTHER_SECRET = SiteSecret(b"y" * 32)
MAX_DAYS = 365

NOTE = """\
RE: Warren, Ebony   MRN: 2738791   DOB: 03/14/1931
Address: 53 Traci Isle Suite 014, Port Brittany, MA 02134
Phone: 617-555-0134   Email: ebony.warren@gmail.com

Pt is a 93 y/o F admitted 07/22/2019 from Port Brittany Regional Medical Center with CHF.
Her daughter Vicki Warren at bedside; Vicki can be reached at (312) 973-3527.
SSN 123-45-6789 on file. Discussed with Dr. de Vries and Liliana Mayorga, RN.
Mrs. Warren agreed with the plan. BP 124/92, Foley catheter in place, 2 units PRBC given.
"""


def patient_shift(patient, secret=SECRET, max_days=MAX_DAYS):
    return int(shift_days([patient], secret, max_days)[0])


# --- date_text.shift -------------------------------------------------------------------

@pytest.mark.parametrize(("original", "expected"), [
    ("07/22/2019", "06/12/2019"),
    ("7/22/2019", "6/12/2019"),
    ("07-22-2019", "06-12-2019"),
    ("7/22", "6/12"),
    ("7/22/19", "6/12/19"),
    ("Jul 22", "Jun 12"),
    ("Jul 22, 2019", "Jun 12, 2019"),
    ("July 22, 2019", "June 12, 2019"),
    ("JULY 22, 2019", "JUNE 12, 2019"),
    ("22nd of July, 2019", "12th of June, 2019"),
    ("2019-07-22", "2019-06-12"),
    ("MARCH 3RD", "JANUARY 23RD"),
    ("March 3rd", "January 23rd"),
    ("31/12/2020", "21/11/2020"),
    ("Monday, July 22, 2019", "June 12, 2019"),  # a weekday no longer true is dropped
    ("summer of 2019", "summer of 2019"),
    ("winter of 2019", "winter of 2018"),
    ("Christmas 2019", "November 15, 2019"),
])
def test_shift_keeps_the_style(original, expected):
    assert date_text.shift(original, -40) == expected


def test_shift_forward_across_a_year_end():
    assert date_text.shift("12/25/2019", 10) == "1/4/2020"
    assert date_text.shift("Dec 25, 2019", 20) == "Jan 14, 2020"


@pytest.mark.parametrize(("original", "days", "expected"), [
    ("2019-12-25", 10, "2020-01-04"),
    ("07/22/2019", -20, "07/02/2019"),
    ("Dec 25, 2019", 10, "Jan 4, 2020"),
])
def test_shift_keeps_zero_padding_of_the_whole_date(original, days, expected):
    assert date_text.shift(original, days) == expected


def test_shift_named_date_to_a_single_digit_day():
    assert date_text.shift("July 22, 2019", -20) == "July 2, 2019"


def test_a_date_without_a_year_keeps_february_29():
    assert date_text.shift("3/1", -1) == "2/29"
    assert date_text.shift("2/29", 1) == "3/1"


@pytest.mark.parametrize("text", ["13/13/2019", "not a date", "2/30/2019", "2019-07"])
def test_shift_of_an_unreadable_date_is_none(text):
    assert date_text.shift(text, -40) is None


@pytest.mark.parametrize(("text", "year"), [
    ("07/22/2019", 2019), ("Jul 22", None), ("summer of 2019", 2019), ("7/22", None),
    ("22nd of July, 2019", 2019),
])
def test_year_of(text, year):
    assert date_text.year_of(text) == year


def test_shifted_date_modes():
    assert shifted_date("07/22/2019", -40, "shift") == "06/12/2019"
    assert shifted_date("07/22/2019", None, "shift") is None
    assert shifted_date("07/22/2019", -40, "year") == "2019"
    assert shifted_date("Jul 22", -40, "year") is None
    assert shifted_date("07/22/2019", -40, "tag") is None


# --- surrogates ------------------------------------------------------------------------

def deid(text, patient="p1", secret=SECRET, **kwargs):
    return TextDeidentifier(secret, **kwargs).deidentify(text, patient=patient)


def surname_after_title(text):
    m = re.search(r"Mrs\. (\S+) agreed", text)
    assert m, text
    return m.group(1)


def test_same_name_same_fake_across_notes_of_one_patient():
    first = deid("Mrs. Warren agreed with the plan.")
    second = deid("Discussed risks again today. Mrs. Warren agreed to proceed.")
    assert surname_after_title(first) == surname_after_title(second) != "Warren"


def test_full_name_and_titled_surname_share_the_fake_surname():
    out = deid("Ebony Warren was seen in clinic. Mrs. Warren agreed with the plan.")
    fake_first, fake_last = out.split(" was seen")[0].split()
    assert fake_last == surname_after_title(out)
    assert "Warren" not in out and "Ebony" not in out and fake_first != "Ebony"


def test_name_in_capitals_gets_the_same_fake_in_capitals():
    mixed = deid("Mrs. Warren agreed with the plan.")
    caps = deid("MRS. WARREN AGREED WITH THE PLAN, FAMILY AT BEDSIDE.")
    assert surname_after_title(mixed).upper() in caps


def test_different_patient_gives_a_different_fake():
    note = "Mrs. Warren agreed with the plan."
    assert surname_after_title(deid(note, patient="p1")) != surname_after_title(
        deid(note, patient="p2"))


def test_different_secret_gives_a_different_fake():
    note = "Mrs. Warren agreed with the plan."
    assert surname_after_title(deid(note)) != surname_after_title(
        deid(note, secret=OTHER_SECRET))


def test_surrogates_are_deterministic():
    assert deid(NOTE) == deid(NOTE)


def test_dates_move_by_the_patient_shift():
    days = patient_shift("p1")
    out = deid("Admitted 07/22/2019, discharged 2019-08-03.")
    admitted = (dt.date(2019, 7, 22) + dt.timedelta(days=days)).strftime("%m/%d/%Y")
    discharged = (dt.date(2019, 8, 3) + dt.timedelta(days=days)).isoformat()
    assert out == f"Admitted {admitted}, discharged {discharged}."


def test_dates_move_by_the_shift_of_each_patient_and_max_days():
    for patient in ("p1", "p2", "person-0042"):
        days = patient_shift(patient, max_days=30)
        assert abs(days) <= 30
        expected = (dt.date(2019, 7, 8) + dt.timedelta(days=days)).strftime("%m/%d/%Y")
        assert deid("Seen 07/08/2019.", patient=patient, max_shift_days=30) == (
            f"Seen {expected}.")


def test_date_mode_year_keeps_only_the_year_and_tags_yearless_dates():
    out = deid("Admitted 07/22/2019, follow up Jul 30.", date_mode="year")
    assert out == "Admitted 2019, follow up [DATE]."


def test_date_mode_tag():
    assert deid("Admitted 07/22/2019.", date_mode="tag") == "Admitted [DATE]."


def test_no_patient_in_shift_mode_tags_dates():
    assert deid("Admitted 07/22/2019, follow up Jul 30.", patient=None) == (
        "Admitted [DATE], follow up [DATE].")


def test_tag_mode():
    out = deid("Mrs. Warren, MRN: 2738791, email ebony.warren@gmail.com, seen 07/22/2019.",
               mode="tag")
    assert out == "Mrs. [NAME], MRN: [MRN], email [EMAIL], seen [DATE]."


def test_ages_over_89_become_90_plus():
    assert deid("Pt is a 93 y/o F with CHF.") == "Pt is a 90+ y/o F with CHF."
    assert deid("Patient is an 89-year-old woman.") == "Patient is an 89-year-old woman."


@pytest.mark.parametrize(("prefix", "value"), [
    ("MRN: ", "2738791"),
    ("SSN ", "123-45-6789"),
    ("Acct # ", "48213377"),
    ("Member ID: ", "XJH482913377"),
    ("DEA ", "AB1234563"),
    ("Pacemaker serial # ", "PJN-1234-56"),
    ("Phone: ", "617-555-0134"),
])
def test_identifiers_keep_their_shape(prefix, value):
    out = deid(f"{prefix}{value} on file.")
    assert out.startswith(prefix) and out.endswith(" on file.")
    fake = out[len(prefix):-len(" on file.")]
    assert fake != value and len(fake) == len(value)
    for a, b in zip(value, fake, strict=True):
        assert a.isdigit() == b.isdigit() and a.isalpha() == b.isalpha()
        if not a.isalnum():
            assert a == b


def test_code_surrogate_is_keyed_by_patient():
    s = Surrogates(SECRET)
    assert s.code("2738791", "p1", "MRN") == s.code("2738791", "p1", "MRN")
    assert s.code("2738791", "p1", "MRN") != s.code("2738791", "p2", "MRN")
    assert s.code("MR-273", "p1", "MRN")[2] == "-"


def test_canary_note_leaves_no_original_identifier():
    out = deid(NOTE)
    for canary in ("Warren", "Ebony", "Vicki", "2738791", "617-555-0134", "ebony.warren",
                   "Traci Isle", "973-3527", "123-45-6789", "Vries", "Mayorga",
                   "Port Brittany", "03/14/1931", "07/22/2019", "93 y/o"):
        assert canary.lower() not in out.lower(), canary
    # The clinical content is untouched.
    for kept in ("BP 124/92", "Foley catheter in place", "2 units PRBC given", "with CHF",
                 "DOB: ", "MRN: "):
        assert kept in out
    assert out.count("\n") == NOTE.count("\n")


def test_canary_note_in_capitals_leaves_no_name_or_number():
    out = deid(NOTE.upper())
    for canary in ("WARREN", "EBONY", "VICKI", "2738791", "617-555-0134", "EBONY.WARREN",
                   "123-45-6789", "MAYORGA"):
        assert canary not in out, canary


def test_clinical_fractions_survive_deidentification():
    note = "Pain 7/10 at rest. Strength 5/5 in all extremities. Grade 2/6 systolic murmur."
    assert deid(note) == note


def test_state_kept_by_default_and_replaced_on_request():
    note = "Address: 53 Traci Isle Suite 014, Port Brittany, MA 02134"
    out = deid(note)
    assert "Port Brittany" not in out and "Traci" not in out and ", MA " in out
    assert ", [STATE] " in deid(note, keep=frozenset())


def test_city_and_state_in_prose_are_a_place_not_a_name():
    out = deid("Lives in Boston, MA with daughter.")
    assert "Boston" not in out and out.endswith(", MA with daughter.")


def test_moved_to_city_state_keeps_the_rest_of_the_sentence():
    out = deid("Moved to Springfield, IL last year.", keep=frozenset())
    assert out.endswith(", [STATE] last year.")


def test_counts_of_replaced_labels():
    deidentifier = TextDeidentifier(SECRET)
    deidentifier.deidentify("Mrs. Warren, MRN: 2738791, seen 07/22/2019.", patient="p1")
    assert deidentifier.replaced["NAME"] == 1
    assert deidentifier.replaced["MRN"] == 1
    assert deidentifier.replaced["DATE"] == 1


@pytest.mark.parametrize("kwargs", [{"mode": "redact"}, {"date_mode": "month"}])
def test_invalid_modes(kwargs):
    with pytest.raises(DeidError, match="unknown"):
        TextDeidentifier(SECRET, **kwargs)


def test_overlapping_detections_are_refused():
    deidentifier = TextDeidentifier(SECRET)
    with pytest.raises(DeidError, match="overlap"):
        deidentifier.replace("Ebony Warren", [Detection(0, 8, "NAME"), Detection(6, 12, "NAME")])


def test_zip_surrogate_keeps_the_zip3_or_zeroes_a_restricted_one():
    s = Surrogates(SECRET)
    fake = s.zip("02134", "p1")
    assert fake[:3] == "021" and fake.isdigit() and len(fake) == 5 and fake != "02134"
    assert s.zip("02134", "p1") == fake  # keyed: the same every time
    restricted = s.zip("03680", "p1")
    assert restricted[:3] == "000"  # 036 is a restricted ZIP3 (< 20,000 people)
    # the last two digits never reproduce the real ones, even for a ZIP ending in 00
    assert all(s.zip(f"604{n:02d}", f"p{k}") != f"604{n:02d}"
               for n in range(100) for k in range(3))


def test_email_url_and_ip_surrogates_are_reserved_placeholders():
    s = Surrogates(SECRET)
    assert s.email("ebony.warren@gmail.com", "p1").endswith("@example.com")
    assert s.url("https://mychart.example.org/p/1", "p1").startswith("https://example.org/")
    assert s.ip("10.1.2.3", "p1").startswith("192.0.2.")
