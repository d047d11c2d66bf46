"""Codes and display names of the supplementary Synthea files (immunizations, allergies,
devices, care plans, imaging studies).

Kept here rather than in ``synth/concepts.py`` because these codes never reach the OMOP
simulation: they exist only in the identifiable extract, drawn after the clinical facts.
Display names follow the CVX and SNOMED CT preferred terms Synthea writes.
"""

from __future__ import annotations

from behindglass.synth import concepts as c

CVX = {
    "140": "Influenza, seasonal, injectable, preservative free",
    "141": "Influenza, seasonal, injectable",
    "08": "Hep B, adolescent or pediatric",
    "113": "Td (adult) preservative free",
    "115": "Tdap",
    "133": "Pneumococcal conjugate PCV 13",
    "33": "pneumococcal polysaccharide vaccine, 23 valent",
    "62": "HPV, quadrivalent",
    "121": "zoster",
    "208": "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
           "30 mcg/0.3mL dose",
    "03": "MMR",
    "21": "varicella",
    "20": "DTaP",
    "10": "IPV",
}
# List price in the site's currency (rough public-sector prices; only for BASE_COST).
CVX_COST = {"140": 140.52, "141": 140.52, "08": 98.70, "113": 35.24, "115": 48.85,
            "133": 229.52, "33": 112.64, "62": 253.44, "121": 191.23, "208": 30.00,
            "03": 84.10, "21": 148.27, "20": 35.87, "10": 36.32}

# Childhood schedule: CVX -> age windows (years) in which one dose is due.
CHILD_SCHEDULE: dict[str, tuple[tuple[float, float], ...]] = {
    "08": ((0.0, 0.1), (0.1, 0.3), (0.5, 1.5)),
    "20": ((0.15, 0.3), (0.3, 0.5), (0.5, 0.8), (1.2, 1.8), (4.0, 7.0)),
    "10": ((0.15, 0.3), (0.3, 0.5), (0.5, 1.5), (4.0, 7.0)),
    "133": ((0.15, 0.3), (0.3, 0.5), (0.5, 0.8), (1.0, 1.4)),
    "03": ((1.0, 1.5), (4.0, 7.0)),
    "21": ((1.0, 1.5), (4.0, 7.0)),
    "115": ((11.0, 13.0),),
    "62": ((11.0, 12.5), (12.5, 14.0)),
}

# SNOMED allergy code -> (description, category, type, typical reactions).
ALLERGIES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "300916003": ("Latex allergy (disorder)", "environment", "allergy",
                  ("247472004", "418290006", "39579001")),
    "232347008": ("Dander (animal) allergy (disorder)", "environment", "allergy",
                  ("878820003", "76067001", "267036007")),
    "419474003": ("Allergy to mold (disorder)", "environment", "allergy",
                  ("878820003", "49727002", "76067001")),
    "418689008": ("Allergy to grass pollen (disorder)", "environment", "allergy",
                  ("878820003", "76067001", "418290006")),
    "419263009": ("Allergy to tree pollen (disorder)", "environment", "allergy",
                  ("878820003", "76067001", "49727002")),
    "91930004": ("Allergy to eggs (disorder)", "food", "allergy",
                 ("247472004", "43116000", "21522001")),
    "714035009": ("Allergy to soya (disorder)", "food", "allergy",
                  ("247472004", "21522001", "422587007")),
    "420174000": ("Allergy to wheat (disorder)", "food", "intolerance",
                  ("21522001", "62315008", "422587007")),
    "425525006": ("Allergy to dairy product (disorder)", "food", "intolerance",
                  ("21522001", "62315008", "422587007")),
    "232350006": ("House dust mite allergy (disorder)", "environment", "allergy",
                  ("878820003", "49727002", "43116000")),
}
# Relative frequency of each allergy among persons with any (environmental ones dominate).
ALLERGY_WEIGHT = {"300916003": 0.05, "232347008": 0.14, "419474003": 0.10, "418689008": 0.16,
                  "419263009": 0.14, "91930004": 0.06, "714035009": 0.04, "420174000": 0.05,
                  "425525006": 0.08, "232350006": 0.18}
REACTIONS = {
    "247472004": "Wheal (finding)", "418290006": "Itching (finding)",
    "39579001": "Anaphylaxis (disorder)", "878820003": "Rhinoconjunctivitis (disorder)",
    "76067001": "Sneezing (finding)", "267036007": "Dyspnea (finding)",
    "49727002": "Cough (finding)", "43116000": "Eczema (disorder)",
    "21522001": "Abdominal pain (finding)", "422587007": "Nausea (finding)",
    "62315008": "Diarrhea (finding)",
}
SEVERITIES = ("MILD", "MODERATE", "SEVERE")

DEVICES = {
    "72506001": "Implantable defibrillator, device (physical object)",
    "706004007": "Implantable cardiac pacemaker (physical object)",
    "705643001": "Coronary artery stent (physical object)",
    "261352009": "Face mask (physical object)",
}
# GTIN-14 bodies (indicator, GS1 company prefix, item reference) of a few made-up models
# per device type; the check digit is computed when the UDI is built.
DEVICE_MODELS = {
    "72506001": ("0088454100327", "0088454101041", "0061369102118"),
    "706004007": ("0061369103009", "0088454102274", "0080259810553"),
    "705643001": ("0088454500196", "0086130020117", "0080259811208"),
    "261352009": ("0069305015011", "0069305016209", "0020059902733"),
}
DEVICE_LIFETIME_YEARS = {"72506001": 7, "706004007": 10, "705643001": 15, "261352009": 1}

# SNOMED care plan -> the OMOP condition concepts it manages.
CAREPLANS: dict[str, tuple[str, tuple[int, ...]]] = {
    "698360004": ("Diabetes self management plan", (c.T2DM, c.DIABETES)),
    "412776001": ("Chronic obstructive pulmonary disease clinical management plan", (c.COPD,)),
    "735984001": ("Heart failure self management plan", (c.HEART_FAILURE,)),
    "736285004": ("Hyperlipidemia clinical management plan", (c.HYPERLIPIDEMIA,)),
}

# Imaging study kinds: procedure code -> (description, modality, modality name, body site,
# body site name, SOP class UID, SOP class name).
IMAGING = {
    "399208008": ("Plain chest X-ray (procedure)", "DX", "Digital Radiography",
                  "51185008", "Thoracic structure (body structure)",
                  "1.2.840.10008.5.1.4.1.1.1.1",
                  "Digital X-Ray Image Storage – for Presentation"),
    "1571000087109": ("Ultrasonography of bilateral breasts (procedure)", "US", "Ultrasound",
                      "76752008", "Breast structure (body structure)",
                      "1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"),
}
DICOM_ROOT = "1.2.840.99999"  # the example root Synthea uses; never a registered org root
