"""The built-in network members.

Numbers are chosen to be recognisable, not to reproduce any real institution: an
academic centre with a diverse, specialist-heavy population; an older, whiter rural
community hospital with more smoking, COPD and diabetes; a young Brazilian urban network
where diclofenac is the everyday NSAID and race is recorded in IBGE categories; an Israeli
integrated-care centre that measures a lot and records race as "not collected"; and a
Canadian network with long prescriptions and patchy race capture. Acute outcome rates are
inflated several-fold over real life so that a few thousand persons give stable
estimates; ``docs/synth.md`` explains the outcome model.
"""

from __future__ import annotations

from datetime import date

from behindglass.synth import concepts as c
from behindglass.synth.profiles import (
    CarePattern,
    CareSite,
    CodingHabits,
    Demographics,
    Epidemiology,
    OutcomeModel,
    Payer,
    Prescribing,
    Profile,
    RaceGroup,
    Region,
)

_US_SITES = (
    CareSite("Main Hospital", c.POS_INPATIENT, "hospital"),
    CareSite("Emergency Department", c.POS_ER, "emergency"),
    CareSite("Outpatient Clinics", c.POS_OUTPATIENT, "clinic"),
    CareSite("Community Office", c.POS_OFFICE, "office"),
)


def _measure(bp: float, bmi: float, a1c_dm: float, a1c: float, creat: float,
             ldl: float) -> dict[str, float]:
    return {"bp": bp, "bmi": bmi, "hba1c_dm": a1c_dm, "hba1c": a1c, "creatinine": creat,
            "ldl": ldl}


def _outcomes(mi: float, stroke: float, gib: float, death: float,
              scale: tuple[float, float, float, float]) -> OutcomeModel:
    names = ("mi", "stroke", "gi_bleed", "death")
    return OutcomeModel(dict(zip(names, (mi, stroke, gib, death), strict=True)),
                        dict(zip(names, scale, strict=True)))


MIDWEST_ACADEMIC = Profile(
    name="midwest-academic",
    description="US academic medical centre: diverse city population, many specialists, "
                "frequent labs, celecoxib-leaning NSAID use",
    country="USA", id_offset=100_000_000, extract_date=date(2025, 6, 30),
    demographics=Demographics(
        age_bands=(0.06, 0.15, 0.16, 0.20, 0.25, 0.10, 0.06, 0.02), female_share=0.53,
        races=(RaceGroup(c.WHITE, "White", 0.66, "white"),
               RaceGroup(c.BLACK, "Black or African American", 0.17, "black"),
               RaceGroup(c.ASIAN, "Asian", 0.06, "asian"),
               RaceGroup(c.AIAN, "American Indian or Alaska Native", 0.01, "aian"),
               RaceGroup(c.NHPI, "Native Hawaiian or Other Pacific Islander", 0.005, "nhpi"),
               RaceGroup(c.NO_MATCH, "Unknown", 0.095, "white")),
        hispanic_share=0.08,
        regions=(Region("IL", "606", "Chicago", 0.45), Region("IL", "604", "Joliet", 0.2),
                 Region("IN", "463", "Gary", 0.15), Region("WI", "531", "Kenosha", 0.1),
                 Region("IL", "600", "Waukegan", 0.1)),
        smoking_current=0.13, smoking_former=0.30, bmi_mean=29.0, ldl_mean=118.0),
    epidemiology=Epidemiology(
        condition_shift={}, t2d_prevalence=(0.07, 0.12)),
    care=CarePattern(
        history_years=6.0, max_history_years=15.0, leave_share=0.18, outpatient_rate=1.8,
        emergency_rate=0.15, inpatient_rate=0.05, home_rate_elderly=0.1,
        providers_per_1000=6.0, specialist_share=0.6, pci_after_mi=0.75,
        measure=_measure(0.8, 0.6, 0.5, 0.06, 0.3, 0.18), cost_level=1.0),
    prescribing=Prescribing(
        t2d_treated=0.8, insulin_share=0.25, htn_treated=0.75, ace_share=0.6,
        ace_mix={c.LISINOPRIL: 0.9, c.ENALAPRIL: 0.1}, statin_propensity=1.0,
        statin_mix={c.ATORVASTATIN: 0.75, c.SIMVASTATIN: 0.25}, nsaid_oa=0.5,
        nsaid_background=0.15,
        nsaid_mix={c.CELECOXIB: 0.35, c.DICLOFENAC: 0.10, c.IBUPROFEN: 0.30, c.NAPROXEN: 0.25},
        anticoagulated_af=0.65, anticoagulant_mix={c.APIXABAN: 0.7, c.WARFARIN: 0.3},
        aspirin=0.25, days_supply={30: 0.6, 90: 0.4}),
    coding=CodingHabits(
        capture=0.93, diabetes_parent_share=0.0, htn_parent_share=0.05, ckd_stage_share=0.3,
        depression_specific_share=0.7, oa_knee_share=0.4, condition_type=c.EHR,
        death_type=c.EHR, repeat_diagnosis=0.3),
    outcomes=_outcomes(0.0, 0.0, 0.0, 0.0, (1.0, 1.0, 1.0, 1.0)),
    care_sites=_US_SITES,
    payers=(Payer("Commercial", 0.72, "PPO"), Payer("Medicaid", 0.24, "Medicaid managed care"),
            Payer("Self-pay", 0.04)),
    medicare_at_65=True,
)

RURAL_COMMUNITY = Profile(
    name="rural-community",
    description="US rural community hospital: older and whiter, more smoking, COPD and "
                "diabetes, few specialists, more emergency care, sparse labs; sometimes "
                "codes diabetes to the parent concept",
    country="USA", id_offset=200_000_000, extract_date=date(2025, 3, 31),
    demographics=Demographics(
        age_bands=(0.04, 0.12, 0.11, 0.15, 0.28, 0.15, 0.11, 0.04), female_share=0.51,
        races=(RaceGroup(c.WHITE, "White", 0.91, "white"),
               RaceGroup(c.BLACK, "Black or African American", 0.03, "black"),
               RaceGroup(c.AIAN, "American Indian or Alaska Native", 0.03, "aian"),
               RaceGroup(c.ASIAN, "Asian", 0.005, "asian"),
               RaceGroup(c.NO_MATCH, "Unknown", 0.025, "white")),
        hispanic_share=0.04,
        regions=(Region("IA", "524", "Cedar Rapids", 0.3), Region("IA", "526", "Burlington", 0.25),
                 Region("IA", "525", "Ottumwa", 0.25), Region("MO", "634", "Hannibal", 0.2)),
        smoking_current=0.24, smoking_former=0.35, bmi_mean=30.5, ldl_mean=124.0),
    epidemiology=Epidemiology(
        condition_shift={"t2d": 0.35, "copd": 0.7, "htn": 0.15, "oa": 0.2,
                                          "depression": 0.1, "lung_cancer": 0.4},
        t2d_prevalence=(0.12, 0.19)),
    care=CarePattern(
        history_years=8.0, max_history_years=12.0, leave_share=0.12, outpatient_rate=1.3,
        emergency_rate=0.3, inpatient_rate=0.07, home_rate_elderly=0.4,
        providers_per_1000=2.5, specialist_share=0.2, pci_after_mi=0.35,
        measure=_measure(0.6, 0.3, 0.3, 0.02, 0.15, 0.05), cost_level=0.85),
    prescribing=Prescribing(
        t2d_treated=0.7, insulin_share=0.2, htn_treated=0.65, ace_share=0.5,
        ace_mix={c.LISINOPRIL: 0.85, c.ENALAPRIL: 0.15}, statin_propensity=0.8,
        statin_mix={c.ATORVASTATIN: 0.6, c.SIMVASTATIN: 0.4}, nsaid_oa=0.55,
        nsaid_background=0.2,
        nsaid_mix={c.CELECOXIB: 0.10, c.DICLOFENAC: 0.15, c.IBUPROFEN: 0.45, c.NAPROXEN: 0.30},
        anticoagulated_af=0.55, anticoagulant_mix={c.APIXABAN: 0.5, c.WARFARIN: 0.5},
        aspirin=0.35, days_supply={30: 0.7, 90: 0.3}),
    coding=CodingHabits(
        capture=0.85, diabetes_parent_share=0.3, htn_parent_share=0.2, ckd_stage_share=0.0,
        depression_specific_share=0.3, oa_knee_share=0.2, condition_type=c.EHR,
        death_type=c.EHR, repeat_diagnosis=0.2),
    outcomes=_outcomes(0.8, 0.3, 0.2, 0.3, (0.8, 1.0, 1.0, 1.0)),
    care_sites=(CareSite("Community Hospital", c.POS_INPATIENT, "hospital"),
                CareSite("Community Hospital ER", c.POS_ER, "emergency"),
                CareSite("Family Medicine Clinic", c.POS_OFFICE, "office")),
    payers=(Payer("Commercial", 0.6, "HMO"), Payer("Medicaid", 0.34, "Medicaid"),
            Payer("Self-pay", 0.06)),
    medicare_at_65=True,
)

URBAN_BRAZIL = Profile(
    name="urban-brazil",
    description="Brazilian urban public network (SUS): young population, IBGE race "
                "categories (parda recorded without a standard concept), diclofenac the "
                "everyday NSAID, family-health home visits, simvastatin and enalapril",
    country="Brazil", id_offset=300_000_000, extract_date=date(2024, 12, 31),
    demographics=Demographics(
        age_bands=(0.07, 0.20, 0.20, 0.23, 0.21, 0.06, 0.025, 0.005), female_share=0.52,
        races=(RaceGroup(c.WHITE, "branca", 0.43, "white"),
               RaceGroup(c.NO_MATCH, "parda", 0.45, "mixed"),
               RaceGroup(c.BLACK, "preta", 0.10, "black"),
               RaceGroup(c.ASIAN, "amarela", 0.01, "asian"),
               RaceGroup(c.AIAN, "indigena", 0.01, "aian")),
        hispanic_share=None,
        regions=(Region("SP", "013", "Sao Paulo", 0.4), Region("SP", "080", "Sao Paulo", 0.25),
                 Region("SP", "090", "Santo Andre", 0.15), Region("SP", "070", "Guarulhos", 0.2)),
        smoking_current=0.12, smoking_former=0.25, bmi_mean=27.5, ldl_mean=115.0),
    epidemiology=Epidemiology(
        condition_shift={"t2d": 0.1, "htn": 0.3, "ckd": -0.2, "copd": -0.3,
                                          "depression": 0.2, "af": -0.3},
        t2d_prevalence=(0.035, 0.08)),
    care=CarePattern(
        history_years=4.5, max_history_years=10.0, leave_share=0.25, outpatient_rate=1.0,
        emergency_rate=0.45, inpatient_rate=0.05, home_rate_elderly=1.0,
        providers_per_1000=2.0, specialist_share=0.3, pci_after_mi=0.3,
        measure=_measure(0.7, 0.4, 0.25, 0.03, 0.1, 0.05), cost_level=0.12),
    prescribing=Prescribing(
        t2d_treated=0.6, insulin_share=0.15, htn_treated=0.55, ace_share=0.65,
        ace_mix={c.ENALAPRIL: 0.85, c.LISINOPRIL: 0.15}, statin_propensity=0.55,
        statin_mix={c.SIMVASTATIN: 0.8, c.ATORVASTATIN: 0.2}, nsaid_oa=0.6,
        nsaid_background=0.3,
        nsaid_mix={c.DICLOFENAC: 0.55, c.IBUPROFEN: 0.25, c.NAPROXEN: 0.15, c.CELECOXIB: 0.05},
        anticoagulated_af=0.4, anticoagulant_mix={c.WARFARIN: 0.85, c.APIXABAN: 0.15},
        aspirin=0.2, days_supply={30: 1.0}),
    coding=CodingHabits(
        capture=0.78, diabetes_parent_share=0.1, htn_parent_share=0.4, ckd_stage_share=0.0,
        depression_specific_share=0.4, oa_knee_share=0.3, condition_type=c.EHR,
        death_type=c.DEATH_CERTIFICATE, repeat_diagnosis=0.15),
    outcomes=_outcomes(0.4, 0.5, 0.3, 0.35, (1.25, 0.9, 1.0, 0.9)),
    care_sites=(CareSite("Hospital Municipal", c.POS_INPATIENT, "hospital"),
                CareSite("UPA 24h", c.POS_ER, "emergency"),
                CareSite("UBS Centro", c.POS_OFFICE, "office"),
                CareSite("UBS Zona Leste", c.POS_OFFICE, "office")),
    payers=(Payer("SUS", 0.75, "SUS"), Payer("Plano privado", 0.25, "Plano de saude")),
)

ISRAEL_CENTRE = Profile(
    name="israel-centre",
    description="Israeli integrated-care centre: long records, frequent labs and visits, "
                "race not collected (population group kept as source value), apixaban and "
                "diclofenac common, lower cardiovascular baseline risk",
    country="Israel", id_offset=400_000_000, extract_date=date(2025, 6, 30),
    demographics=Demographics(
        age_bands=(0.10, 0.19, 0.16, 0.19, 0.20, 0.08, 0.06, 0.02), female_share=0.51,
        races=(RaceGroup(c.NO_MATCH, "Jewish", 0.74, "white"),
               RaceGroup(c.NO_MATCH, "Arab", 0.21, "mena"),
               RaceGroup(c.NO_MATCH, "Other", 0.05, "white")),
        hispanic_share=None,
        regions=(Region("TA", "610", "Tel Aviv", 0.35), Region("CE", "490", "Petah Tikva", 0.25),
                 Region("HA", "310", "Haifa", 0.2), Region("NO", "160", "Nazareth", 0.2)),
        smoking_current=0.20, smoking_former=0.25, bmi_mean=27.5, ldl_mean=112.0),
    epidemiology=Epidemiology(
        condition_shift={"t2d": 0.1, "hyperlipidemia": 0.2, "copd": -0.2,
                                          "af": 0.1},
        t2d_prevalence=(0.06, 0.11)),
    care=CarePattern(
        history_years=9.0, max_history_years=20.0, leave_share=0.06, outpatient_rate=2.4,
        emergency_rate=0.12, inpatient_rate=0.05, home_rate_elderly=0.8,
        providers_per_1000=4.0, specialist_share=0.45, pci_after_mi=0.7,
        measure=_measure(0.7, 0.5, 0.65, 0.12, 0.4, 0.3), cost_level=0.35),
    prescribing=Prescribing(
        t2d_treated=0.85, insulin_share=0.2, htn_treated=0.8, ace_share=0.6,
        ace_mix={c.ENALAPRIL: 0.6, c.LISINOPRIL: 0.4}, statin_propensity=1.2,
        statin_mix={c.ATORVASTATIN: 0.6, c.SIMVASTATIN: 0.4}, nsaid_oa=0.55,
        nsaid_background=0.2,
        nsaid_mix={c.DICLOFENAC: 0.40, c.CELECOXIB: 0.25, c.IBUPROFEN: 0.20, c.NAPROXEN: 0.15},
        anticoagulated_af=0.75, anticoagulant_mix={c.APIXABAN: 0.7, c.WARFARIN: 0.3},
        aspirin=0.3, days_supply={30: 0.8, 90: 0.2}),
    coding=CodingHabits(
        capture=0.95, diabetes_parent_share=0.0, htn_parent_share=0.1, ckd_stage_share=0.5,
        depression_specific_share=0.5, oa_knee_share=0.5, condition_type=c.EHR,
        death_type=c.DEATH_CERTIFICATE, repeat_diagnosis=0.35),
    outcomes=_outcomes(-0.5, -0.2, -0.1, -0.2, (1.2, 1.0, 1.0, 1.1)),
    care_sites=(CareSite("Medical Centre", c.POS_INPATIENT, "hospital"),
                CareSite("Medical Centre ED", c.POS_ER, "emergency"),
                CareSite("Community Clinic", c.POS_OFFICE, "office")),
    payers=(Payer("Clalit", 0.52), Payer("Maccabi", 0.26), Payer("Meuhedet", 0.14),
            Payer("Leumit", 0.08)),
)

CANADA_NETWORK = Profile(
    name="canada-network",
    description="Canadian primary-care network: race captured for a minority, 90/100-day "
                "prescriptions, problem-list diagnoses, CKD coded by stage, apixaban first",
    country="Canada", id_offset=500_000_000, extract_date=date(2025, 3, 31),
    demographics=Demographics(
        age_bands=(0.05, 0.14, 0.15, 0.21, 0.26, 0.11, 0.06, 0.02), female_share=0.51,
        races=(RaceGroup(c.NO_MATCH, "", 0.45, "white"), RaceGroup(c.NO_MATCH, "", 0.10, "asian"),
               RaceGroup(c.WHITE, "White", 0.30, "white"),
               RaceGroup(c.ASIAN, "Asian", 0.09, "asian"),
               RaceGroup(c.BLACK, "Black", 0.03, "black"),
               RaceGroup(c.AIAN, "First Nations", 0.03, "aian")),
        hispanic_share=None,
        regions=(Region("ON", None, "Toronto", 0.5, "M5V"),
                 Region("ON", None, "Ottawa", 0.2, "K1P"),
                 Region("ON", None, "Hamilton", 0.15, "L8P"),
                 Region("ON", None, "London", 0.15, "N6A")),
        smoking_current=0.11, smoking_former=0.30, bmi_mean=27.8, ldl_mean=110.0),
    epidemiology=Epidemiology(
        condition_shift={"t2d": -0.05, "htn": -0.1, "depression": 0.1},
        t2d_prevalence=(0.055, 0.10)),
    care=CarePattern(
        history_years=8.0, max_history_years=15.0, leave_share=0.1, outpatient_rate=2.0,
        emergency_rate=0.2, inpatient_rate=0.04, home_rate_elderly=1.0,
        providers_per_1000=3.5, specialist_share=0.35, pci_after_mi=0.6,
        measure=_measure(0.6, 0.4, 0.45, 0.06, 0.3, 0.15), cost_level=0.5),
    prescribing=Prescribing(
        t2d_treated=0.8, insulin_share=0.2, htn_treated=0.75, ace_share=0.5,
        ace_mix={c.LISINOPRIL: 0.5, c.ENALAPRIL: 0.5}, statin_propensity=1.0,
        statin_mix={c.ATORVASTATIN: 0.7, c.SIMVASTATIN: 0.3}, nsaid_oa=0.45,
        nsaid_background=0.15,
        nsaid_mix={c.NAPROXEN: 0.35, c.IBUPROFEN: 0.30, c.CELECOXIB: 0.20, c.DICLOFENAC: 0.15},
        anticoagulated_af=0.75, anticoagulant_mix={c.APIXABAN: 0.75, c.WARFARIN: 0.25},
        aspirin=0.2, days_supply={90: 0.5, 100: 0.3, 30: 0.2}),
    coding=CodingHabits(
        capture=0.9, diabetes_parent_share=0.05, htn_parent_share=0.1, ckd_stage_share=0.6,
        depression_specific_share=0.5, oa_knee_share=0.3, condition_type=c.EHR_PROBLEM_LIST,
        death_type=c.DEATH_CERTIFICATE, repeat_diagnosis=0.25),
    outcomes=_outcomes(-0.3, -0.1, 0.0, -0.15, (1.0, 1.0, 1.0, 1.0)),
    care_sites=(CareSite("Regional Hospital", c.POS_INPATIENT, "hospital"),
                CareSite("Regional Hospital ED", c.POS_ER, "emergency"),
                CareSite("Family Health Team", c.POS_OFFICE, "office"),
                CareSite("Community Health Centre", c.POS_OFFICE, "office")),
    payers=(Payer("OHIP", 1.0, "Ontario Health Insurance Plan"),),
)

_ALL = (MIDWEST_ACADEMIC, RURAL_COMMUNITY, URBAN_BRAZIL, ISRAEL_CENTRE, CANADA_NETWORK)
PROFILES: dict[str, Profile] = {p.name: p for p in _ALL}
