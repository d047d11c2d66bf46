"""The catalogue of real OMOP concepts the generator emits, and where each was checked.

Every id below is a real OMOP standard-vocabulary concept. ``source`` records where the
id (and its attributes) was verified against data shipped with the project
(``shared/data``); ``docs/synth.md`` lists the same table for readers:

``E``  Eunomia GiBleed ``CONCEPT.csv.gz`` (id, name, domain, vocabulary, class, code)
``S``  Eunomia Synthea27Nj ``CONCEPT.csv`` (id, name, domain, vocabulary, class, code)
``M``  MIMIC-IV demo ``concept_relationship``: a named local code ``Maps to`` this id
``O``  an OHDSI Circe cohort definition in ``ohdsi-cohort-definitions`` (full concept row)
``A``  id present in GiBleed ``CONCEPT_ANCESTOR`` / Synthea27Nj ``CONCEPT_RELATIONSHIP`` in
       the expected position (e.g. an ATC class above exactly the expected ingredients);
       name and code from the public vocabulary
``D``  id used as a value in a clinical or metadata table of those data sets
``V``  GiBleed ``DOMAIN`` / ``VOCABULARY`` / ``RELATIONSHIP`` tables
``K``  well-known id used across OHDSI ETLs, not present in the local data sets
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    """One row of the CONCEPT table (validity dates are filled in by the writer)."""

    concept_id: int
    name: str
    domain: str
    vocabulary: str
    concept_class: str
    standard: str | None  # "S" standard, "C" classification, None non-standard
    code: str
    source: str  # verification code, see module docstring


# --- ids the simulation refers to by name -----------------------------------------------
NO_MATCH = 0
MALE, FEMALE = 8507, 8532
WHITE, BLACK, ASIAN, AIAN, NHPI = 8527, 8516, 8515, 8657, 8557
HISPANIC, NOT_HISPANIC = 38003563, 38003564
INPATIENT, OUTPATIENT, EMERGENCY, HOME = 9201, 9202, 9203, 581476
EHR, EHR_PRESCRIPTION, LAB, DEATH_CERTIFICATE = 32817, 32838, 32856, 32815
EHR_EPISODE, COST_RECORD, EHR_PROBLEM_LIST = 32828, 32814, 32840

DIABETES, T2DM = 201820, 201826
HYPERTENSIVE_DISORDER, ESSENTIAL_HTN = 316866, 320128
HEART_DISEASE, HEART_FAILURE, MI, AFIB = 321588, 316139, 4329847, 313217
CEREBROVASCULAR, STROKE = 381591, 381316
CKD, CKD_STAGE3 = 46271022, 443597
COPD = 255573
DEPRESSIVE_DISORDER, MAJOR_DEPRESSION = 440383, 4152280
GI_BLEED = 192671
MALIGNANCY, BREAST_CANCER, PROSTATE_CANCER = 443392, 4112853, 4163261
LUNG_CANCER, COLON_CANCER = 443388, 4180790
OSTEOARTHRITIS, OA_KNEE = 80180, 4079750
HYPERLIPIDEMIA = 432867

METFORMIN, INSULIN = 1503297, 1596977
LISINOPRIL, ENALAPRIL, HCTZ = 1308216, 1341927, 974166
CELECOXIB, DICLOFENAC, IBUPROFEN, NAPROXEN = 1118084, 1124300, 1177480, 1115008
WARFARIN, APIXABAN, ASPIRIN = 1310149, 43013024, 1112807
ATORVASTATIN, SIMVASTATIN = 1545958, 1539403

HBA1C, SBP, DBP, CREATININE, EGFR, BMI, LDL = (
    3004410, 3004249, 3012888, 3016723, 46236952, 3038553, 3009966)
SMOKING_STATUS, SMOKES_DAILY = 43054909, 42709996
PERCENT, MMHG, MG_DL, ML_MIN_173, KG_M2 = 8554, 8876, 8840, 720870, 9531

COLONOSCOPY, TRANSFUSION, PCI, ECG = 4249893, 4108705, 4216130, 4163951
MAMMOGRAPHY, HEMODIALYSIS, CHEST_XRAY = 4324693, 4120120, 4163872
ECHO, CT_HEAD, CHEMOTHERAPY = 4230911, 4125350, 4273629

ORAL, SUBCUTANEOUS = 4132161, 4142048
USD = 44818668
POS_INPATIENT, POS_OUTPATIENT, POS_OFFICE, POS_ER = 8717, 8756, 8940, 8870
GENERAL_PRACTICE, CARDIOLOGY, FAMILY_PRACTICE = 38004446, 38004451, 38004453
GASTROENTEROLOGY, INTERNAL_MEDICINE, NEUROLOGY = 38004455, 38004456, 38004458
CDM_V54 = 756265
IS_A, SUBSUMES = 44818821, 44818723

# Supplementary Synthea files (immunizations, allergies, devices, care plans, imaging): the
# generator writes these codes into the identifiable extract and ingest maps them.
EHR_ADMINISTRATION = 32818
BILATERAL_BREAST_US = 42535066

_SNOMED_FINDING = ("Condition", "SNOMED", "Clinical Finding", "S")
_SNOMED_PROCEDURE = ("Procedure", "SNOMED", "Procedure", "S")
_INGREDIENT = ("Drug", "RxNorm", "Ingredient", "S")
_UNIT = ("Unit", "UCUM", "Unit", "S")
_TYPE = ("Type Concept", "Type Concept", "Type Concept", "S")
_CVX = ("Drug", "CVX", "CVX", "S")
_SNOMED_ALLERGY = ("Observation", "SNOMED", "Clinical Finding", "S")
_SNOMED_ALLERGY_NONSTANDARD = ("Observation", "SNOMED", "Clinical Finding", None)
_SNOMED_DEVICE = ("Device", "SNOMED", "Physical Object", "S")
_SNOMED_CARE_PLAN_OLD = ("Type Concept", "SNOMED", "Qualifier Value", None)
_SNOMED_CARE_PLAN = ("Type Concept", "SNOMED", "Record Artifact", None)


def _atc(level: int) -> tuple[str, str, str, str]:
    return ("Drug", "ATC", f"ATC {level}{'nd' if level == 2 else 'rd' if level == 3 else 'th'}",
            "C")


def _c(cid: int, name: str, kind: tuple[str, str, str, str | None], code: str,
       source: str) -> Concept:
    domain, vocabulary, concept_class, standard = kind
    return Concept(cid, name, domain, vocabulary, concept_class, standard, code, source)


CLINICAL_CONCEPTS: tuple[Concept, ...] = (
    _c(NO_MATCH, "No matching concept", ("Metadata", "None", "Undefined", None),
       "No matching concept", "E"),
    _c(MALE, "MALE", ("Gender", "Gender", "Gender", "S"), "M", "E"),
    _c(FEMALE, "FEMALE", ("Gender", "Gender", "Gender", "S"), "F", "E"),
    _c(WHITE, "White", ("Race", "Race", "Race", "S"), "5", "M"),
    _c(BLACK, "Black or African American", ("Race", "Race", "Race", "S"), "3", "M"),
    _c(ASIAN, "Asian", ("Race", "Race", "Race", "S"), "2", "M"),
    _c(AIAN, "American Indian or Alaska Native", ("Race", "Race", "Race", "S"), "1", "M"),
    _c(NHPI, "Native Hawaiian or Other Pacific Islander", ("Race", "Race", "Race", "S"), "4",
       "K"),
    _c(HISPANIC, "Hispanic or Latino", ("Ethnicity", "Ethnicity", "Ethnicity", "S"),
       "Hispanic", "S"),
    _c(NOT_HISPANIC, "Not Hispanic or Latino", ("Ethnicity", "Ethnicity", "Ethnicity", "S"),
       "Not Hispanic", "S"),
    _c(INPATIENT, "Inpatient Visit", ("Visit", "Visit", "Visit", "S"), "IP", "E"),
    _c(OUTPATIENT, "Outpatient Visit", ("Visit", "Visit", "Visit", "S"), "OP", "E"),
    _c(EMERGENCY, "Emergency Room Visit", ("Visit", "Visit", "Visit", "S"), "ER", "E"),
    _c(HOME, "Home Visit", ("Visit", "Visit", "Visit", "S"), "HV", "M"),
    _c(EHR, "EHR", _TYPE, "OMOP4976890", "D"),
    _c(EHR_PRESCRIPTION, "EHR prescription", _TYPE, "OMOP4976911", "D"),
    _c(LAB, "Lab", _TYPE, "OMOP4976929", "D"),
    _c(DEATH_CERTIFICATE, "Death Certificate", _TYPE, "OMOP4976888", "K"),
    _c(EHR_EPISODE, "EHR episode record", _TYPE, "OMOP4976901", "D"),
    _c(COST_RECORD, "Cost record", _TYPE, "OMOP4976887", "K"),
    _c(EHR_PROBLEM_LIST, "EHR problem list", _TYPE, "OMOP4976913", "K"),
    # conditions
    _c(DIABETES, "Diabetes mellitus", _SNOMED_FINDING, "73211009", "A"),
    _c(T2DM, "Type 2 diabetes mellitus", _SNOMED_FINDING, "44054006", "S"),
    _c(HYPERTENSIVE_DISORDER, "Hypertensive disorder", _SNOMED_FINDING, "38341003", "O"),
    _c(ESSENTIAL_HTN, "Essential hypertension", _SNOMED_FINDING, "59621000", "S"),
    _c(HEART_DISEASE, "Heart disease", _SNOMED_FINDING, "56265001", "A"),
    _c(HEART_FAILURE, "Heart failure", _SNOMED_FINDING, "84114007", "S"),
    _c(MI, "Myocardial infarction", _SNOMED_FINDING, "22298006", "E"),
    _c(AFIB, "Atrial fibrillation", _SNOMED_FINDING, "49436004", "E"),
    _c(CEREBROVASCULAR, "Cerebrovascular disease", _SNOMED_FINDING, "62914000", "A"),
    _c(STROKE, "Cerebrovascular accident", _SNOMED_FINDING, "230690007", "E"),
    _c(CKD, "Chronic kidney disease", _SNOMED_FINDING, "709044004", "A"),
    _c(CKD_STAGE3, "Chronic kidney disease stage 3", _SNOMED_FINDING, "433144002", "S"),
    _c(COPD, "Chronic obstructive lung disease", _SNOMED_FINDING, "13645005", "A"),
    _c(DEPRESSIVE_DISORDER, "Depressive disorder", _SNOMED_FINDING, "35489007", "A"),
    _c(MAJOR_DEPRESSION, "Major depressive disorder", _SNOMED_FINDING, "370143000", "S"),
    _c(GI_BLEED, "Gastrointestinal hemorrhage", _SNOMED_FINDING, "74474003", "E"),
    _c(MALIGNANCY, "Malignant neoplastic disease", _SNOMED_FINDING, "363346000", "O"),
    _c(BREAST_CANCER, "Malignant tumor of breast", _SNOMED_FINDING, "254837009", "S"),
    _c(PROSTATE_CANCER, "Malignant tumor of prostate", _SNOMED_FINDING, "399068003", "A"),
    _c(LUNG_CANCER, "Malignant tumor of lung", _SNOMED_FINDING, "363358000", "O"),
    _c(COLON_CANCER, "Malignant tumor of colon", _SNOMED_FINDING, "363406005", "S"),
    _c(OSTEOARTHRITIS, "Osteoarthritis", _SNOMED_FINDING, "396275006", "E"),
    _c(OA_KNEE, "Osteoarthritis of knee", _SNOMED_FINDING, "239873007", "S"),
    _c(HYPERLIPIDEMIA, "Hyperlipidemia", _SNOMED_FINDING, "55822004", "S"),
    # drug ingredients
    _c(METFORMIN, "metformin", _INGREDIENT, "6809", "M"),
    _c(INSULIN, "insulin, regular, human", _INGREDIENT, "253182", "M"),
    _c(LISINOPRIL, "Lisinopril", _INGREDIENT, "29046", "O"),
    _c(ENALAPRIL, "Enalapril", _INGREDIENT, "3827", "O"),
    _c(HCTZ, "Hydrochlorothiazide", _INGREDIENT, "5487", "O"),
    _c(CELECOXIB, "celecoxib", _INGREDIENT, "140587", "E"),
    _c(DICLOFENAC, "Diclofenac", _INGREDIENT, "3355", "E"),
    _c(IBUPROFEN, "Ibuprofen", _INGREDIENT, "5640", "E"),
    _c(NAPROXEN, "Naproxen", _INGREDIENT, "7258", "E"),
    _c(WARFARIN, "Warfarin", _INGREDIENT, "11289", "E"),
    _c(APIXABAN, "apixaban", _INGREDIENT, "1364430", "K"),
    _c(ASPIRIN, "Aspirin", _INGREDIENT, "1191", "E"),
    _c(ATORVASTATIN, "atorvastatin", _INGREDIENT, "83367", "E"),
    _c(SIMVASTATIN, "Simvastatin", _INGREDIENT, "36567", "E"),
    # ATC classes above those ingredients
    _c(21600712, "DRUGS USED IN DIABETES", _atc(2), "A10", "K"),
    _c(21600713, "INSULINS AND ANALOGUES", _atc(3), "A10A", "K"),
    _c(21600744, "BLOOD GLUCOSE LOWERING DRUGS, EXCL. INSULINS", _atc(3), "A10B", "K"),
    _c(21600960, "ANTITHROMBOTIC AGENTS", _atc(2), "B01", "A"),
    _c(21600961, "ANTITHROMBOTIC AGENTS", _atc(3), "B01A", "A"),
    _c(21600962, "Vitamin K antagonists", _atc(4), "B01AA", "A"),
    _c(21600985, "Platelet aggregation inhibitors excl. heparin", _atc(4), "B01AC", "A"),
    _c(21601461, "DIURETICS", _atc(2), "C03", "K"),
    _c(21601462, "LOW-CEILING DIURETICS, THIAZIDES", _atc(3), "C03A", "K"),
    _c(21601782, "AGENTS ACTING ON THE RENIN-ANGIOTENSIN SYSTEM", _atc(2), "C09", "K"),
    _c(21601783, "ACE INHIBITORS, PLAIN", _atc(3), "C09A", "K"),
    _c(21601853, "LIPID MODIFYING AGENTS", _atc(2), "C10", "A"),
    _c(21601854, "LIPID MODIFYING AGENTS, PLAIN", _atc(3), "C10A", "A"),
    _c(21601855, "HMG CoA reductase inhibitors", _atc(4), "C10AA", "A"),
    _c(21603932, "ANTIINFLAMMATORY AND ANTIRHEUMATIC PRODUCTS", _atc(2), "M01", "A"),
    _c(21603933, "ANTIINFLAMMATORY AND ANTIRHEUMATIC PRODUCTS, NON-STEROIDS", _atc(3), "M01A",
       "A"),
    _c(21603940, "Acetic acid derivatives and related substances", _atc(4), "M01AB", "A"),
    _c(21603966, "Propionic acid derivatives", _atc(4), "M01AE", "A"),
    _c(21603991, "Coxibs", _atc(4), "M01AH", "A"),
    # measurements, observations, units
    _c(HBA1C, "Hemoglobin A1c/Hemoglobin.total in Blood",
       ("Measurement", "LOINC", "Lab Test", "S"), "4548-4", "S"),
    _c(SBP, "Systolic blood pressure", ("Measurement", "LOINC", "Clinical Observation", "S"),
       "8480-6", "S"),
    _c(DBP, "Diastolic blood pressure", ("Measurement", "LOINC", "Clinical Observation", "S"),
       "8462-4", "S"),
    _c(CREATININE, "Creatinine [Mass/volume] in Serum or Plasma",
       ("Measurement", "LOINC", "Lab Test", "S"), "2160-0", "S"),
    _c(EGFR, "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
       "Plasma or Blood by Creatinine-based formula (MDRD)",
       ("Measurement", "LOINC", "Lab Test", "S"), "77147-7", "A"),
    _c(BMI, "Body mass index (BMI) [Ratio]",
       ("Measurement", "LOINC", "Clinical Observation", "S"), "39156-5", "S"),
    _c(LDL, "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
       ("Measurement", "LOINC", "Lab Test", "S"), "18262-6", "S"),
    _c(SMOKING_STATUS, "Tobacco smoking status",
       ("Observation", "LOINC", "Clinical Observation", "S"), "72166-2", "S"),
    _c(SMOKES_DAILY, "Smokes tobacco daily", ("Observation", "SNOMED", "Clinical Finding", "S"),
       "449868002", "S"),
    _c(PERCENT, "percent", _UNIT, "%", "S"),
    _c(MMHG, "millimeter mercury column", _UNIT, "mm[Hg]", "S"),
    _c(MG_DL, "milligram per deciliter", _UNIT, "mg/dL", "S"),
    _c(ML_MIN_173, "milliliter per minute per 1.73 square meter", _UNIT,
       "mL/min/(173.10*-2.m2)", "S"),
    _c(KG_M2, "kilogram per square meter", _UNIT, "kg/m2", "S"),
    # procedures
    _c(COLONOSCOPY, "Colonoscopy", _SNOMED_PROCEDURE, "73761001", "S"),
    _c(TRANSFUSION, "Intravenous blood transfusion of packed cells", _SNOMED_PROCEDURE,
       "180207008", "E"),
    _c(PCI, "Percutaneous coronary intervention", _SNOMED_PROCEDURE, "415070008", "E"),
    _c(ECG, "Electrocardiographic procedure", _SNOMED_PROCEDURE, "29303009", "E"),
    _c(MAMMOGRAPHY, "Mammography", _SNOMED_PROCEDURE, "71651007", "S"),
    _c(HEMODIALYSIS, "Hemodialysis", _SNOMED_PROCEDURE, "302497006", "S"),
    _c(CHEST_XRAY, "Plain chest X-ray", _SNOMED_PROCEDURE, "399208008", "E"),
    _c(ECHO, "Echocardiography", _SNOMED_PROCEDURE, "40701008", "S"),
    _c(CT_HEAD, "CT of head", _SNOMED_PROCEDURE, "303653007", "S"),
    _c(CHEMOTHERAPY, "Chemotherapy", _SNOMED_PROCEDURE, "367336001", "S"),
    # routes, currency, care settings, specialties, metadata
    _c(ORAL, "Oral", ("Route", "SNOMED", "Qualifier Value", "S"), "26643006", "M"),
    _c(SUBCUTANEOUS, "Subcutaneous", ("Route", "SNOMED", "Qualifier Value", "S"), "34206005",
       "M"),
    _c(USD, "US Dollar", ("Currency", "Currency", "Currency", "S"), "USD", "K"),
    _c(POS_INPATIENT, "Inpatient Hospital", ("Visit", "CMS Place of Service", "Visit", "S"),
       "21", "M"),
    _c(POS_OUTPATIENT, "Outpatient Hospital", ("Visit", "CMS Place of Service", "Visit", "S"),
       "22", "A"),
    _c(POS_OFFICE, "Office", ("Visit", "CMS Place of Service", "Visit", "S"), "11", "K"),
    _c(POS_ER, "Emergency Room - Hospital", ("Visit", "CMS Place of Service", "Visit", "S"),
       "23", "D"),
    _c(GENERAL_PRACTICE, "General Practice",
       ("Provider", "Medicare Specialty", "Physician Specialty", "S"), "01", "D"),
    _c(CARDIOLOGY, "Cardiology", ("Provider", "Medicare Specialty", "Physician Specialty", "S"),
       "06", "K"),
    _c(FAMILY_PRACTICE, "Family Practice",
       ("Provider", "Medicare Specialty", "Physician Specialty", "S"), "08", "A"),
    _c(GASTROENTEROLOGY, "Gastroenterology",
       ("Provider", "Medicare Specialty", "Physician Specialty", "S"), "10", "K"),
    _c(INTERNAL_MEDICINE, "Internal Medicine",
       ("Provider", "Medicare Specialty", "Physician Specialty", "S"), "11", "K"),
    _c(NEUROLOGY, "Neurology", ("Provider", "Medicare Specialty", "Physician Specialty", "S"),
       "13", "K"),
    _c(CDM_V54, "OMOP CDM Version 5.4.0", ("Metadata", "CDM", "CDM", "S"), "CDM v5.4.0", "D"),
    _c(IS_A, "Is a", ("Metadata", "Relationship", "Relationship", None), "OMOP generated", "V"),
    _c(SUBSUMES, "Subsumes", ("Metadata", "Relationship", "Relationship", None),
       "OMOP generated", "V"),
    # --- supplementary Synthea files ------------------------------------------------------
    _c(EHR_ADMINISTRATION, "EHR administration record", _TYPE, "OMOP4976891", "K"),
    # CVX vaccines (Drug domain, standard in the CVX vocabulary)
    _c(40213154, "Influenza, seasonal, injectable, preservative free", _CVX, "140", "E"),
    _c(40213153, "Influenza, seasonal, injectable", _CVX, "141", "K"),
    _c(40213304, "hepatitis B vaccine, pediatric or pediatric/adolescent dosage", _CVX, "08",
       "K"),
    _c(40213227, "tetanus and diphtheria toxoids, adsorbed, preservative free, for adult use",
       _CVX, "113", "E"),
    _c(40213230, "tetanus toxoid, reduced diphtheria toxoid, and acellular pertussis vaccine, "
       "adsorbed", _CVX, "115", "E"),
    _c(40213198, "pneumococcal conjugate vaccine, 13 valent", _CVX, "133", "E"),
    _c(40213201, "pneumococcal polysaccharide vaccine, 23 valent", _CVX, "33", "E"),
    _c(40213320, "human papilloma virus vaccine, quadrivalent", _CVX, "62", "E"),
    _c(40213260, "zoster vaccine, live", _CVX, "121", "E"),
    _c(724907, "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
       "30 mcg/0.3mL dose", _CVX, "208", "K"),
    _c(40213183, "measles, mumps and rubella virus vaccine", _CVX, "03", "K"),
    _c(40213251, "varicella virus vaccine", _CVX, "21", "E"),
    _c(40213281, "diphtheria, tetanus toxoids and acellular pertussis vaccine", _CVX, "20",
       "E"),
    _c(40213160, "poliovirus vaccine, inactivated", _CVX, "10", "E"),
    # allergies (egg and soy are non-standard, "upgraded", in the Synthea27Nj vocabulary:
    # they are source concepts whose standard targets we do not ship)
    _c(4102123, "Allergy to latex", _SNOMED_ALLERGY, "300916003", "S"),
    _c(439406, "Allergy to animal dander", _SNOMED_ALLERGY, "232347008", "S"),
    _c(4304110, "Allergy to mold", _SNOMED_ALLERGY, "419474003", "S"),
    _c(4302207, "Allergy to grass pollen", _SNOMED_ALLERGY, "418689008", "S"),
    _c(4306014, "Allergy to tree pollen", _SNOMED_ALLERGY, "419263009", "S"),
    _c(442116, "Allergy to edible egg", _SNOMED_ALLERGY_NONSTANDARD, "91930004", "S"),
    _c(37017711, "Allergy to soy", _SNOMED_ALLERGY_NONSTANDARD, "714035009", "S"),
    _c(4169137, "Allergy to wheat", _SNOMED_ALLERGY, "420174000", "S"),
    _c(4139681, "Allergy to dairy food", _SNOMED_ALLERGY, "425525006", "S"),
    _c(4048169, "Allergy to dust mite protein", _SNOMED_ALLERGY, "232350006", "S"),
    # devices
    _c(4217646, "Implantable defibrillator", _SNOMED_DEVICE, "72506001", "S"),
    _c(45772840, "Implantable cardiac pacemaker", _SNOMED_DEVICE, "706004007", "S"),
    _c(45767945, "Coronary artery stent", _SNOMED_DEVICE, "705643001", "S"),
    _c(4126216, "Face mask", _SNOMED_DEVICE, "261352009", "S"),
    # care plans: non-standard SNOMED record artifacts (domain "Type Concept") in the
    # vocabulary; ingest keeps them as source concepts (docs/ingest.md)
    _c(44784290, "Diabetes self management plan", _SNOMED_CARE_PLAN_OLD, "698360004", "S"),
    _c(4135423, "Chronic obstructive pulmonary disease clinical management plan",
       _SNOMED_CARE_PLAN_OLD, "412776001", "S"),
    _c(42536932, "Heart failure self management plan", _SNOMED_CARE_PLAN, "735984001", "S"),
    _c(42537121, "Hyperlipidemia clinical management plan", _SNOMED_CARE_PLAN, "736285004",
       "S"),
    # imaging (plain chest X-ray, 399208008, is CHEST_XRAY above)
    _c(BILATERAL_BREAST_US, "Ultrasonography of bilateral breasts", _SNOMED_PROCEDURE,
       "1571000087109", "S"),
)

# (child, parent) edges of the pruned hierarchies written to CONCEPT_ANCESTOR and, as
# 'Is a' / 'Subsumes' pairs, to CONCEPT_RELATIONSHIP.
HIERARCHY: tuple[tuple[int, int], ...] = (
    (T2DM, DIABETES), (ESSENTIAL_HTN, HYPERTENSIVE_DISORDER),
    (HEART_FAILURE, HEART_DISEASE), (MI, HEART_DISEASE), (AFIB, HEART_DISEASE),
    (STROKE, CEREBROVASCULAR), (CKD_STAGE3, CKD), (MAJOR_DEPRESSION, DEPRESSIVE_DISORDER),
    (BREAST_CANCER, MALIGNANCY), (PROSTATE_CANCER, MALIGNANCY), (LUNG_CANCER, MALIGNANCY),
    (COLON_CANCER, MALIGNANCY), (OA_KNEE, OSTEOARTHRITIS),
    (METFORMIN, 21600744), (21600744, 21600712), (INSULIN, 21600713), (21600713, 21600712),
    (WARFARIN, 21600962), (21600962, 21600961), (APIXABAN, 21600961),
    (ASPIRIN, 21600985), (21600985, 21600961), (21600961, 21600960),
    (HCTZ, 21601462), (21601462, 21601461),
    (LISINOPRIL, 21601783), (ENALAPRIL, 21601783), (21601783, 21601782),
    (ATORVASTATIN, 21601855), (SIMVASTATIN, 21601855), (21601855, 21601854),
    (21601854, 21601853),
    (CELECOXIB, 21603991), (21603991, 21603933), (DICLOFENAC, 21603940),
    (21603940, 21603933), (IBUPROFEN, 21603966), (NAPROXEN, 21603966),
    (21603966, 21603933), (21603933, 21603932),
)  # fmt: skip
