"""Each rule recognizer on the sentences clinicians write, and on the look-alikes they also write.

Every positive example is checked as written, in ALL CAPS (nursing-note style) and, where
case carries no meaning for the rule, in lower case.
"""

from __future__ import annotations

import pytest

from behindglass.deid.text.recognizers.addresses import AddressRecognizer
from behindglass.deid.text.recognizers.ages import AgeRecognizer
from behindglass.deid.text.recognizers.contacts import (
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
)
from behindglass.deid.text.recognizers.dates import DateRecognizer
from behindglass.deid.text.recognizers.identifiers import IdentifierRecognizer
from behindglass.deid.text.recognizers.institutions import InstitutionRecognizer
from behindglass.deid.text.recognizers.names import NameRecognizer
from behindglass.deid.text.registry import Context

DATES, AGES, PHONES = DateRecognizer(), AgeRecognizer(), PhoneRecognizer()
EMAILS, URLS, IPS = EmailRecognizer(), UrlRecognizer(), IpRecognizer()
IDS, ADDRESSES = IdentifierRecognizer(), AddressRecognizer()
INSTITUTIONS, NAMES = InstitutionRecognizer(), NameRecognizer()

# Clinical look-alikes no recognizer may report.
LOOK_ALIKES = [
    "BP 124/92, HR 88, RR 18.",
    "Continue carbidopa-levodopa 25/100 mg TID.",
    "Pathology: 0/14 lymph nodes involved, pT1b N0.",
    "T 37.8 C, SpO2 96% on 2L NC.",
    "NSG NOTE 0700-1900",
    "Transfused 2 units PRBC overnight.",
    "XR CHEST 2 VIEWS",
    "Heparin 5000 units SC q8h, metoprolol 25 mg PO BID.",
    "Glucose 250-300 overnight, insulin sliding scale.",
    "Vent settings AC 14/450/5/40.",
    "Positive Murphy's sign, no rebound.",
    "History of Parkinson's disease with tremor.",
    "Foley catheter in place, draining clear urine.",
    "FOLEY CATHETER IN PLACE. MURPHY'S SIGN NEGATIVE. HX PARKINSON'S DISEASE.",
    "Discussed with Department of Radiology.",
]


def found(recognizer, text):
    return {(text[d.start:d.end], d.label) for d in recognizer.detect(text, Context())}


def variants(cases, *, lower=True):
    """Each (text, [(span, label)]) as written, in ALL CAPS and optionally in lower case."""
    out = []
    for text, spans in cases:
        out.append(pytest.param(text, spans, id=f"mixed:{text[:40]}"))
        out.append(pytest.param(text.upper(), [(s.upper(), lb) for s, lb in spans],
                                id=f"caps:{text[:40]}"))
        if lower:
            out.append(pytest.param(text.lower(), [(s.lower(), lb) for s, lb in spans],
                                    id=f"lower:{text[:40]}"))
    return out


def assert_finds(recognizer, text, spans):
    got = found(recognizer, text)
    for span in spans:
        assert span in got, f"{span} not found in {text!r}; found {sorted(got)}"


ALL_RULES = [DATES, AGES, PHONES, EMAILS, URLS, IPS, IDS, ADDRESSES, INSTITUTIONS, NAMES]


@pytest.mark.parametrize("recognizer", ALL_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_no_recognizer_reports_clinical_look_alikes(recognizer, text):
    assert found(recognizer, text) == set()


# --- dates -----------------------------------------------------------------------------

DATE_CASES = [
    ("Seen in clinic on 7/22 for follow-up.", [("7/22", "DATE")]),
    ("Admitted 07-22-2019 with chest pain.", [("07-22-2019", "DATE")]),
    ("Last seen Jul 22, wound healing well.", [("Jul 22", "DATE")]),
    ("Surgery on the 22nd of July, 2019 was uncomplicated.", [("22nd of July, 2019", "DATE")]),
    ("CT abdomen 2019-07-22 showed no abscess.", [("2019-07-22", "DATE")]),
    ("Symptoms began in the summer of 2019.", [("summer of 2019", "DATE")]),
    ("Fell at home over Christmas 2019.", [("Christmas 2019", "DATE")]),
    ("Discharged on July 22, 2019 to rehab.", [("July 22, 2019", "DATE")]),
    ("Admitted 22-Jul-2019 via ED.", [("22-Jul-2019", "DATE")]),
    ("Fireworks injury on July 4th.", [("July 4th", "DATE")]),
    ("CABG in 3/2015, stents 4/18/2017.", [("3/2015", "DATE"), ("4/18/2017", "DATE")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(DATE_CASES))
def test_dates_found(text, spans):
    got = found(DATES, text)
    for span, label in spans:
        # "the 22nd of July" may carry its article; the date itself must be inside one span.
        assert any(span in g and lb == label for g, lb in got), (span, sorted(got))


@pytest.mark.parametrize("text", [
    "Pain 7/10 at rest.",
    "Strength 5/5 in all extremities.",
    "Grade 2/6 systolic murmur at LUSB.",
    "Apgars 8/9.",
    "D5 1/2 NS at 75 mL/h.",
])
def test_clinical_fractions_are_not_dates(text):
    assert found(DATES, text) == set()


@pytest.mark.parametrize("text", ["Not seen since November by PCP.",
                                  "NOT SEEN SINCE NOVEMBER BY PCP."])
def test_month_alone_found(text):
    assert {(s.lower(), lb) for s, lb in found(DATES, text)} == {("november", "DATE")}


def test_month_alone_found_in_lower_case():
    assert found(DATES, "not seen since november by pcp.") == {("november", "DATE")}


def test_day_first_date_when_first_number_cannot_be_a_month():
    assert ("31/12/2020", "DATE") in found(DATES, "Follow-up booked for 31/12/2020.")


@pytest.mark.parametrize("text", [
    "Repeat labs in 2 weeks; CBC 2/3 of normal.",
    "She is G2P1, 2/3 of doses given.",
    "Sinemet 25/100 two tabs.",
    "B/P 150/95 sitting.",
    "Weight 3.5 kg.",
    "Born in 1954, retired in 2019.",
])
def test_dates_not_found(text):
    assert found(DATES, text) == set()


# --- ages ------------------------------------------------------------------------------

AGE_CASES = [
    ("Pt is a 93 y/o M admitted with sepsis.", [("93", "AGE")]),
    ("Patient is a 93-year-old man with CHF.", [("93", "AGE")]),
    ("Age: 95. Lives alone.", [("95", "AGE")]),
    ("92 yo F with hip fracture.", [("92", "AGE")]),
    ("Mother died at age 101 of a stroke.", [("101", "AGE")]),
    ("She is a ninety-three year old woman.", [("ninety-three", "AGE")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(AGE_CASES))
def test_ages_over_89_found(text, spans):
    assert_finds(AGES, text, spans)


@pytest.mark.parametrize("text", [
    "Patient is an 89-year-old woman with COPD.",
    "PT IS A 89 Y/O F.",
    "45 yo M with chest pain.",
    "Age: 67. Father died at 72.",
    "Transfused 2 units PRBC, plt 95.",
])
def test_ages_89_and_under_not_found(text):
    assert found(AGES, text) == set()


# --- phone, fax, e-mail, URL, IP -------------------------------------------------------

CONTACT_CASES = [
    ("Call back # 617-555-0134 with results.", [("617-555-0134", "PHONE")]),
    ("Daughter's cell (312) 973-3527.", [("(312) 973-3527", "PHONE")]),
    ("Please fax records to 617-555-0199.", [("617-555-0199", "FAX")]),
    ("Fax: 617-555-0199", [("617-555-0199", "FAX")]),
    ("Reached son at +1 615 595 9570.", [("+1 615 595 9570", "PHONE")]),
    ("Pharmacy phone 617.555.0134 confirmed.", [("617.555.0134", "PHONE")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(CONTACT_CASES))
def test_phones_and_faxes_found(text, spans):
    assert_finds(PHONES, text, spans)


def test_nursing_sentence_phone_in_capitals():
    text = ("PT IS A 93 Y/O M. HIS WIFE MILA AT BEDSIDE, UPDATED BY DR. M. MCGEE. "
            "CALL BACK # 617-555-0134.")
    assert found(PHONES, text) == {("617-555-0134", "PHONE")}


@pytest.mark.parametrize("text", [
    "NSG NOTE 0700-1900", "MRN 2738791", "Admitted 2019-07-22.", "BP 124/92, T 37.8 C",
])
def test_phones_not_found(text):
    assert found(PHONES, text) == set()


@pytest.mark.parametrize(("text", "spans"), variants([
    ("Daughter asks for updates at ebony.warren@gmail.com please.",
     [("ebony.warren@gmail.com", "EMAIL")]),
]))
def test_emails_found(text, spans):
    assert_finds(EMAILS, text, spans)


@pytest.mark.parametrize(("text", "spans"), variants([
    ("Portal link https://mychart.example.org/patient/123 sent to family.",
     [("https://mychart.example.org/patient/123", "URL")]),
    ("Family blog www.warrenfamily.net has updates.", [("www.warrenfamily.net", "URL")]),
]))
def test_urls_found(text, spans):
    assert_finds(URLS, text, spans)


def test_url_not_found_in_prose():
    assert found(URLS, "Pt tolerating diet, ambulating with walker. Plan: d/c home.") == set()


@pytest.mark.parametrize(("text", "spans"), variants([
    ("Telehealth visit logged from 192.168.10.24 at 0300 by pt.", [("192.168.10.24", "IP")]),
]))
def test_ipv4_found(text, spans):
    assert_finds(IPS, text, spans)


def test_ipv4_at_end_of_sentence_found():
    assert ("192.168.10.24", "IP") in found(IPS, "Telehealth visit logged from 192.168.10.24.")


def test_ip_not_found_in_vitals():
    assert found(IPS, "T 37.8 C, HR 88, Na 135, K 4.1.") == set()


# --- identifiers -----------------------------------------------------------------------

ID_CASES = [
    ("SSN: 123-45-6789 on file.", [("123-45-6789", "SSN")]),
    ("MRN: 2738791, admitted to 5W.", [("2738791", "MRN")]),
    ("Medical record number 2738791 verified.", [("2738791", "MRN")]),
    ("Acct # 48213377 for billing.", [("48213377", "ACCOUNT")]),
    ("Health plan member ID ZXQ1234567 verified.", [("ZXQ1234567", "HEALTH_PLAN")]),
    ("Medicaid ID 99887766A on file.", [("99887766A", "HEALTH_PLAN")]),
    ("Referring NPI 1234567893.", [("1234567893", "LICENSE")]),
    ("Prescriber DEA AB1234563.", [("AB1234563", "LICENSE")]),
    ("Driver's license D1234567 copied.", [("D1234567", "LICENSE")]),
    ("Pacemaker serial # PJN123456 interrogated.", [("PJN123456", "DEVICE")]),
    ("Implant UDI (01)00643169007222(17)160128(21)BLC200461H recorded.",
     [("(01)00643169007222(17)160128(21)BLC200461H", "DEVICE")]),
    ("License plate 7ABC123 noted by security.", [("7ABC123", "VEHICLE")]),
    ("Car VIN 1HGCM82633A004352 in police report.", [("1HGCM82633A004352", "VEHICLE")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(ID_CASES))
def test_identifiers_found_with_their_context_word(text, spans):
    assert_finds(IDS, text, spans)


def test_unexplained_record_number_reported_as_mrn():
    assert ("MR2738791", "MRN") in found(IDS, "Old chart MR2738791 reviewed.")


def test_plate_with_a_space_after_its_context_word():
    assert ("WV 7035", "VEHICLE") in found(IDS, "Plate WV 7035 on the car in lot B.")


def test_plate_number_context_word_not_reported():
    assert found(IDS, "Plate number WV 7035.") == {("WV 7035", "VEHICLE")}


@pytest.mark.parametrize("text", [
    "E11.9 type 2 diabetes, 20G IV R AC.",
    "Hgb 10.2, plt 250, WBC 12.1.",
    "ECOG 1, stage T2N0M0.",
])
def test_identifiers_not_found_in_codes_and_labs(text):
    assert found(IDS, text) == set()


# --- addresses -------------------------------------------------------------------------

ADDRESS_CASES = [
    ("Lives at 5 Hall Court with his wife.", [("5 Hall Court", "STREET")]),
    ("Address: 53 Traci Isle Suite 014, Port Brittany, MA 02134",
     [("53 Traci Isle Suite 014", "STREET"), ("Port Brittany", "CITY"), ("MA", "STATE"),
      ("02134", "ZIP")]),
    ("Wohnt in Zobelplatz 96 mit Tochter.", [("Zobelplatz 96", "STREET")]),
    ("Vive en Avenida Gamboa 870 con su hija.", [("Avenida Gamboa 870", "STREET")]),
    ("Home address: 12 Baker Street, London, W1U 6TJ",
     [("12 Baker Street", "STREET"), ("London", "CITY"), ("W1U 6TJ", "ZIP")]),
    ("Address: 221 Maple Ave, Toronto, ON M5V 2T6",
     [("221 Maple Ave", "STREET"), ("Toronto", "CITY"), ("M5V 2T6", "ZIP")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(ADDRESS_CASES, lower=False))
def test_addresses_found(text, spans):
    assert_finds(ADDRESSES, text, spans)


def test_city_state_zip_in_prose():
    got = found(ADDRESSES, "Lives in Boston, MA 02118 with daughter.")
    assert {("Boston", "CITY"), ("MA", "STATE"), ("02118", "ZIP")} <= got


def test_city_state_zip_in_capitals_exact_city():
    got = found(ADDRESSES, "LIVES IN BOSTON, MA 02118 WITH DAUGHTER.")
    assert {lb_span for lb_span in got if lb_span[1] == "CITY"} == {("BOSTON", "CITY")}


def test_address_tail_does_not_swallow_the_sentences_before_it():
    text = ("Seen with her mother Vicki. Mrs. Warren agreed. Lives at 5 Hall Court, "
            "Port Brittany, MA 02134.")
    streets = {s for s, lb in found(ADDRESSES, text) if lb == "STREET"}
    assert streets == {"5 Hall Court"}


@pytest.mark.parametrize("text", [
    "Given 2 units PRBC, tolerated well.",
    "2 MG IV GIVEN PER DR. RESPONDED WELL.",
    "1152 ML. FOLEY IN PLACE.",
    "Pain 5/10 in right lower quadrant.",
])
def test_addresses_not_found(text):
    assert found(ADDRESSES, text) == set()


# --- institutions ----------------------------------------------------------------------

INSTITUTION_CASES = [
    ("Transferred from Port Brittany Regional Medical Center for PCI.",
     [("Port Brittany Regional Medical Center", "INSTITUTION")]),
    ("Previously followed at University of Vermont Medical Center.",
     [("University of Vermont Medical Center", "INSTITUTION")]),
    ("Records requested from St. Jude Children's Research Hospital.",
     [("St. Jude Children's Research Hospital", "INSTITUTION")]),
]


@pytest.mark.parametrize(("text", "spans"), variants(INSTITUTION_CASES, lower=False))
def test_institutions_found(text, spans):
    got = found(INSTITUTIONS, text)
    for span, label in spans:
        # In capitals a leading verb may ride along; the name itself must be covered.
        assert any(span in g and lb == label for g, lb in got), (span, sorted(got))


def test_institution_in_capitals_exact_span():
    text = "TRANSFERRED FROM PORT BRITTANY REGIONAL MEDICAL CENTER FOR PCI."
    assert found(INSTITUTIONS, text) == {("PORT BRITTANY REGIONAL MEDICAL CENTER",
                                          "INSTITUTION")}


@pytest.mark.parametrize("text", [
    "Discussed with Department of Radiology.",
    "Will follow up in the clinic.",
    "Seen in the Emergency Department overnight.",
    "Patient to return to the hospital if worse.",
])
def test_institutions_not_found(text):
    assert found(INSTITUTIONS, text) == set()


# --- names -----------------------------------------------------------------------------

NAME_CASES = [
    ("His wife Mila at bedside, updated by Dr. M. McGee.",
     [("Mila", "NAME"), ("M. McGee", "NAME")]),
    ("Note written by Yvette Evans, DO.", [("Yvette Evans", "NAME")]),
    ("Assessment by Liliana Mayorga, RN.", [("Liliana Mayorga", "NAME")]),
    ("RE: Harris, Ben", [("Harris, Ben", "NAME")]),
    ("Her mother Vicki was present for the discussion.", [("Vicki", "NAME")]),
    ("Kelly (mother) called for an update.", [("Kelly", "NAME")]),
    ("Discussed with Dr. de Vries this morning.", [("de Vries", "NAME")]),
    ("Case reviewed with Dr. van der Veen.", [("van der Veen", "NAME")]),
    ("Seen by Dr. O'Neil in clinic.", [("O'Neil", "NAME")]),
    ("Met with Jean-Pierre Dubois, MD.", [("Jean-Pierre Dubois", "NAME")]),
    ("PCP is Dr. Smith-Jones.", [("Smith-Jones", "NAME")]),
    ("Family (husband Tom and daughter Ana) at bedside.", [("Tom", "NAME"), ("Ana", "NAME")]),
    ("Spoke with pt's son, Michael, by phone.", [("Michael", "NAME")]),
    ("Dictated by: Kathleen Rosario, MD", [("Kathleen Rosario", "NAME")]),
    ("cc: Dr. Ahmed Khan", [("Ahmed Khan", "NAME")]),
]


def _name_variants():
    out = []
    for text, spans in NAME_CASES:
        out.append(pytest.param(text, spans, id=f"mixed:{text[:40]}"))
        out.append(pytest.param(text.upper(), [(s.upper(), lb) for s, lb in spans],
                                id=f"caps:{text[:40]}"))
    return out


@pytest.mark.parametrize(("text", "spans"), _name_variants())
def test_names_found(text, spans):
    assert_finds(NAMES, text, spans)


def test_patient_name_field():
    assert ("Ebony Warren", "NAME") in found(NAMES, "Patient Name: Ebony Warren  DOB: 03/14/1931")


@pytest.mark.parametrize("text", ["Patient Name: Ebony Warren  DOB: 03/14/1931",
                                  "PATIENT NAME: EBONY WARREN  DOB: 03/14/1931"])
def test_patient_name_field_label_is_not_a_name(text):
    assert not any(span.lower() == "name" for span, _ in found(NAMES, text))


def test_nursing_note_in_capitals():
    text = ("PT IS A 93 Y/O M. HIS WIFE MILA AT BEDSIDE, UPDATED BY DR. M. MCGEE. "
            "CALL BACK # 617-555-0134.")
    assert found(NAMES, text) == {("MILA", "NAME"), ("M. MCGEE", "NAME")}


def test_signature_line_in_capitals():
    assert ("LILIANA MAYORGA", "NAME") in found(NAMES, "LILIANA MAYORGA, RN")


@pytest.mark.parametrize("text", [
    "Positive Murphy's sign, Babinski sign negative.",
    "History of Parkinson's disease.",
    "Foley catheter in place.",
    "PT WITH PARKINSON'S DISEASE. FOLEY CATHETER IN PLACE. 2 UNITS PRBC GIVEN.",
    "Glasgow coma scale 15, Gram stain pending.",
])
def test_names_not_found(text):
    assert found(NAMES, text) == set()


def test_titled_surname():
    assert found(NAMES, "Mrs. Warren agreed with the plan.") == {("Warren", "NAME")}


def test_titled_surname_in_capitals_exact_span():
    assert found(NAMES, "MRS. WARREN AGREED WITH THE PLAN.") == {("WARREN", "NAME")}


@pytest.mark.parametrize("text", ["Charge RN aware, will reassess.",
                                  "CHARGE RN AWARE, WILL REASSESS."])
def test_role_before_credential_is_not_a_name(text):
    assert found(NAMES, text) == set()


def test_eponym_after_a_title_is_a_name_but_the_sign_is_not():
    got = found(NAMES, "Dr. Murphy examined; Murphy's sign negative.")
    assert ("Murphy", "NAME") in got
    spans = [d for d in NAMES.detect("Dr. Murphy examined; Murphy's sign negative.", Context())]
    assert all(d.start < 12 for d in spans)
