"""Clinical content of the notes: problems, medications, findings, vitals and labs.

None of it is PHI. Eponymous diseases, devices and scores live here on purpose (see
traps.py): they look like names to a naive recognizer and must survive de-identification.
"""

from __future__ import annotations

import random
from typing import NamedTuple


class Problem(NamedTuple):
    name: str
    short: str  # the ICU shorthand
    presentation: str
    findings: str
    course: str
    meds: tuple[str, ...]
    plan: str


PROBLEMS: tuple[Problem, ...] = (
    Problem("community-acquired pneumonia", "PNA", "three days of productive cough, fever and "
            "pleuritic chest pain", "chest x-ray showed right lower lobe consolidation; WBC 15.8",
            "treated with ceftriaxone and azithromycin with defervescence by hospital day 2",
            ("amoxicillin-clavulanate 875 mg PO BID x 5 days", "guaifenesin 600 mg PO BID PRN"),
            "complete the antibiotic course; repeat chest x-ray in 6 weeks"),
    Problem("acute decompensated heart failure", "CHF EXACERBATION", "worsening dyspnea on "
            "exertion, orthopnea and 4 kg weight gain", "BNP 1,240 pg/mL, bilateral pleural "
            "effusions, EF 30% on echocardiogram", "diuresed with IV furosemide, net negative "
            "6.2 L", ("furosemide 40 mg PO daily", "metoprolol succinate 25 mg PO daily",
                      "lisinopril 5 mg PO daily", "spironolactone 25 mg PO daily"),
            "daily weights, 2 g sodium diet, fluid restriction 1.5 L/day"),
    Problem("COPD exacerbation", "COPD EXAC", "increased sputum and wheezing", "ABG 7.32/58/64, "
            "diffuse expiratory wheeze", "treated with nebulized albuterol-ipratropium, "
            "prednisone and doxycycline; weaned to 2 L nasal cannula",
            ("prednisone 40 mg PO daily x 3 more days", "tiotropium 18 mcg inhaled daily",
             "albuterol MDI 2 puffs q4h PRN"), "pulmonary rehab referral, smoking cessation"),
    Problem("diabetic ketoacidosis", "DKA", "polyuria, vomiting and abdominal pain",
            "glucose 512 mg/dL, anion gap 24, beta-hydroxybutyrate 6.1 mmol/L, pH 7.12",
            "insulin infusion per protocol, gap closed within 14 hours, transitioned to "
            "basal-bolus insulin", ("insulin glargine 22 units SC nightly",
                                    "insulin lispro sliding scale with meals"),
            "diabetes education completed; endocrinology follow-up"),
    Problem("urosepsis", "UROSEPSIS", "fever, rigors and confusion", "lactate 3.4 mmol/L, "
            "urinalysis with >50 WBC, blood cultures growing E. coli", "fluid resuscitation "
            "30 mL/kg and piperacillin-tazobactam, narrowed to ceftriaxone",
            ("cephalexin 500 mg PO QID x 7 days",), "repeat urinalysis if symptoms recur"),
    Problem("upper GI bleed", "UGIB", "melena and lightheadedness", "Hgb 6.8 g/dL from baseline "
            "11.9, BUN 48", "transfused 2 units PRBC; EGD showed a 1.2 cm duodenal ulcer with "
            "visible vessel, clipped", ("pantoprazole 40 mg PO BID x 8 weeks",
                                        "ferrous sulfate 325 mg PO daily"),
            "H. pylori serology pending; avoid NSAIDs"),
    Problem("acute ischemic stroke", "CVA", "sudden right-sided weakness and expressive aphasia",
            "NIH Stroke Scale 7; MRI with left MCA territory infarct", "outside the tPA window; "
            "started aspirin and high-intensity statin; telemetry without atrial fibrillation",
            ("aspirin 81 mg PO daily", "atorvastatin 80 mg PO nightly"),
            "outpatient PT/OT/speech therapy; 30-day event monitor"),
    Problem("atrial fibrillation with rapid ventricular response", "AFIB W/ RVR", "palpitations "
            "and dyspnea", "HR 148 irregularly irregular; TSH 1.8", "rate controlled with IV "
            "diltiazem then oral metoprolol; CHA2DS2-VASc 4, anticoagulation started",
            ("metoprolol tartrate 50 mg PO BID", "apixaban 5 mg PO BID"),
            "cardiology follow-up to discuss rhythm control"),
    Problem("NSTEMI", "NSTEMI", "substernal chest pressure radiating to the left arm",
            "troponin I peak 4.2 ng/mL, ST depressions V4-V6", "heparin drip; cardiac "
            "catheterization with drug-eluting stent to the proximal LAD",
            ("aspirin 81 mg PO daily", "ticagrelor 90 mg PO BID", "atorvastatin 80 mg PO daily",
             "metoprolol succinate 50 mg PO daily"), "cardiac rehab; dual antiplatelet x 12 mo"),
    Problem("acute kidney injury", "AKI", "poor oral intake and dizziness", "creatinine 3.1 "
            "mg/dL from baseline 1.0, FENa 0.6%", "held lisinopril and metformin, IV fluids; "
            "creatinine improved to 1.3", ("amlodipine 5 mg PO daily",),
            "repeat BMP in one week; resume lisinopril if creatinine stable"),
    Problem("cellulitis of the left lower extremity", "LLE CELLULITIS", "spreading redness and "
            "warmth of the left shin", "erythema to the mid-calf, no abscess on ultrasound",
            "IV cefazolin with regression of the marked borders", ("cephalexin 500 mg PO QID",),
            "elevate the leg; return if redness spreads past the marked border"),
    Problem("small bowel obstruction", "SBO", "crampy abdominal pain, distension and bilious "
            "emesis", "CT with transition point in the right lower quadrant", "NGT to low "
            "intermittent suction, bowel rest; resolved without surgery",
            ("ondansetron 4 mg PO q8h PRN", "docusate 100 mg PO BID"), "advance diet as tolerated"),
    Problem("alcohol withdrawal", "ETOH WITHDRAWAL", "tremor, diaphoresis and visual "
            "hallucinations", "CIWA 22 on arrival, ethanol level undetectable", "symptom-"
            "triggered lorazepam per CIWA protocol; thiamine and folate repleted",
            ("thiamine 100 mg PO daily", "folic acid 1 mg PO daily", "naltrexone 50 mg PO daily"),
            "referred to outpatient addiction medicine"),
    Problem("right hip fracture", "R HIP FX", "a mechanical fall at home", "displaced femoral "
            "neck fracture on x-ray", "hemiarthroplasty on hospital day 1, weight bearing as "
            "tolerated", ("oxycodone 5 mg PO q6h PRN pain", "enoxaparin 40 mg SC daily x 28 days",
                          "acetaminophen 1 g PO q8h"), "PT at rehab; staple removal at 2 weeks"),
    Problem("pulmonary embolism", "PE", "acute pleuritic chest pain and tachycardia",
            "CT angiogram with bilateral segmental emboli, RV/LV ratio 0.8", "heparin infusion "
            "then apixaban; lower extremity duplex with left popliteal DVT",
            ("apixaban 10 mg PO BID x 7 days then 5 mg PO BID",), "anticoagulation for 3 months"),
    Problem("postpartum hemorrhage", "PPH", "heavy bleeding after spontaneous vaginal delivery",
            "estimated blood loss 1,200 mL; infant with Apgar scores of 8 and 9",
            "uterine massage, oxytocin and misoprostol; transfused 1 unit PRBC",
            ("ferrous sulfate 325 mg PO BID", "ibuprofen 600 mg PO q6h PRN"),
            "postpartum visit in 2 weeks"),
)
OBSTETRIC = "postpartum hemorrhage"

COMORBIDITIES = (
    "hypertension", "type 2 diabetes mellitus", "hyperlipidemia", "CKD stage 3a",
    "coronary artery disease", "obstructive sleep apnea", "hypothyroidism", "GERD",
    "osteoarthritis", "depression", "atrial fibrillation", "morbid obesity (BMI 41)",
    "Parkinson's disease", "Crohn's disease", "Alzheimer's dementia", "Hodgkin lymphoma in "
    "remission", "Hashimoto's thyroiditis", "Barrett's esophagus", "Graves' disease",
    "prior Bell's palsy", "Sjogren's syndrome", "Meniere's disease",
)
ICU_COMORBIDITIES = ("HTN", "DM2", "HLD", "CAD S/P CABG", "COPD", "CKD", "AFIB", "OSA ON CPAP",
                     "PARKINSON'S", "CHF", "ETOH ABUSE", "CROHN'S")
HOME_MEDS = ("metformin 1000 mg PO BID", "lisinopril 20 mg PO daily", "atorvastatin 40 mg PO "
             "nightly", "levothyroxine 75 mcg PO daily", "omeprazole 20 mg PO daily",
             "sertraline 50 mg PO daily", "carbidopa-levodopa 25/100 mg PO TID",
             "amlodipine 10 mg PO daily", "Tylenol 650 mg PO q6h PRN", "Lasix 20 mg PO daily",
             "Eliquis 5 mg PO BID", "gabapentin 300 mg PO TID", "tamsulosin 0.4 mg PO nightly",
             "vitamin D3 2,000 units PO daily", "insulin glargine 18 units SC nightly")
ALLERGIES = ("NKDA", "penicillin (rash)", "sulfa drugs (hives)", "codeine (nausea)",
             "iodinated contrast (anaphylaxis; premedicate)", "no known drug allergies")
DISPOSITIONS = ("home", "home with home health services", "subacute rehabilitation",
                "home with outpatient physical therapy")
PROCEDURES = ("a Foley catheter was placed and removed on hospital day 2",
              "a right internal jugular central line was placed under ultrasound guidance",
              "a Swan-Ganz catheter was used for hemodynamic monitoring",
              "a PICC line was placed for IV antibiotics")
EXAM_TRAPS = ("negative Murphy's sign", "Babinski downgoing bilaterally",
              "Glasgow Coma Scale 15", "no Kernig's or Brudzinski's sign")


def vitals(rng: random.Random, icu: bool = False) -> str:
    temp = round(rng.uniform(36.2, 38.9), 1)
    hr, sbp, dbp = rng.randrange(58, 128), rng.randrange(92, 178), rng.randrange(48, 96)
    rr, sat = rng.randrange(12, 28), rng.randrange(88, 101)
    oxygen = rng.choice(("room air", "2 L NC", "4 L NC", "50% FiO2 via HFNC"))
    if icu:
        return f"T {temp} HR {hr} BP {sbp}/{dbp} RR {rr} SPO2 {sat}% ON {oxygen}"
    return f"T {temp} C, HR {hr}, BP {sbp}/{dbp}, RR {rr}, SpO2 {sat}% on {oxygen}"


def labs(rng: random.Random) -> str:
    return (f"Na {rng.randrange(128, 146)}, K {rng.uniform(3.1, 5.6):.1f}, "
            f"Cl {rng.randrange(95, 110)}, HCO3 {rng.randrange(16, 31)}, "
            f"BUN {rng.randrange(8, 62)}, Cr {rng.uniform(0.6, 3.4):.1f}, "
            f"glucose {rng.randrange(70, 320)} mg/dL; WBC {rng.uniform(3.8, 18.5):.1f}, "
            f"Hgb {rng.uniform(7.1, 15.8):.1f} g/dL, Plt {rng.randrange(88, 420)}, "
            f"INR {rng.uniform(0.9, 2.8):.1f}, lactate {rng.uniform(0.6, 4.1):.1f} mmol/L")


def clock(rng: random.Random, military: bool = False) -> str:
    """A time of day without a date (not PHI).

    Four-digit military times ("2010") are only written where nothing can read them as a
    year: right after "March 28" the gold would be ambiguous even for a human annotator.
    """
    h, m = rng.randrange(24), rng.choice((0, 5, 10, 15, 20, 30, 40, 45, 50))
    if military:
        return f"{h:02d}{m:02d}"
    if rng.random() < 0.5:
        return f"{h:02d}:{m:02d}"
    return f"{(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def comorbidities(rng: random.Random, k: int = 3) -> str:
    picked = rng.sample(COMORBIDITIES, k=k)
    return ", ".join(picked[:-1]) + f" and {picked[-1]}"


def pick_problem(rng: random.Random, sex: str, age: int) -> Problem:
    if sex == "F" and 18 <= age < 45 and rng.random() < 0.5:
        return PROBLEMS[-1]
    return rng.choice(PROBLEMS[:-1])
