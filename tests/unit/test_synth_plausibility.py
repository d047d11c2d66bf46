"""The data look like a health system's: plausible people, dates that fit together, and
sites that differ the way their profiles say they do."""

from __future__ import annotations

import duckdb
import pytest

from behindglass.synth import PROFILES, generate_site
from behindglass.synth.schema import CLINICAL_TABLES

SIZES = {"midwest-academic": 4_000, "rural-community": 3_000, "urban-brazil": 3_000,
         "israel-centre": 2_000, "canada-network": 2_000}


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, duckdb.DuckDBPyConnection]:
    root = tmp_path_factory.mktemp("synth-plausible")
    out: dict[str, duckdb.DuckDBPyConnection] = {}
    for name, persons in SIZES.items():
        folder = generate_site(name, persons, 2026, root / name).out
        con = duckdb.connect()
        for table in CLINICAL_TABLES:
            con.execute(f"create table {table} as select * from read_csv('{folder}/{table}.csv')")
        out[name] = con
    return out


def one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchone()[0]


def test_t2d_prevalence_is_within_each_profiles_range(dbs: dict) -> None:
    for name, con in dbs.items():
        low, high = PROFILES[name].epidemiology.t2d_prevalence
        share = one(con, "select count(distinct person_id) / (select count(*) from person) "
                         "from condition_occurrence where condition_concept_id in (201826, 201820)")
        assert low <= share <= high, f"{name}: T2D prevalence {share:.3f} not in {low}-{high}"


def test_ages_and_sexes_are_plausible(dbs: dict) -> None:
    for name, con in dbs.items():
        lo, hi, female = con.execute(
            "select min(2025 - year_of_birth), max(2025 - year_of_birth), "
            "avg((gender_concept_id = 8532)::int) from person").fetchone()
        assert 0 <= lo <= 2 and 85 <= hi <= 101, name
        assert 0.45 < female < 0.58, name


def test_ids_are_unique_and_reference_existing_rows(dbs: dict) -> None:
    con = dbs["midwest-academic"]
    for table, key in (("person", "person_id"), ("visit_occurrence", "visit_occurrence_id"),
                       ("drug_exposure", "drug_exposure_id"), ("measurement", "measurement_id"),
                       ("cost", "cost_id"), ("condition_occurrence", "condition_occurrence_id")):
        assert one(con, f"select count(*) - count(distinct {key}) from {table}") == 0, table
    assert one(con, "select count(*) from condition_occurrence c anti join visit_occurrence v "
                    "using (visit_occurrence_id)") == 0
    assert one(con, "select count(*) from cost c anti join visit_occurrence v on "
                    "c.cost_event_id = v.visit_occurrence_id where cost_domain_id = 'Visit'") == 0
    assert one(con, "select count(*) from cost c anti join drug_exposure d on "
                    "c.cost_event_id = d.drug_exposure_id where cost_domain_id = 'Drug'") == 0
    first_id = PROFILES["midwest-academic"].id_offset + 1
    assert one(con, "select min(person_id) from person") == first_id


EVENTS = (("visit_occurrence", "visit_start_date"), ("visit_occurrence", "visit_end_date"),
          ("condition_occurrence", "condition_start_date"),
          ("drug_exposure", "drug_exposure_start_date"),
          ("drug_exposure", "drug_exposure_end_date"),
          ("measurement", "measurement_date"), ("procedure_occurrence", "procedure_date"),
          ("observation", "observation_date"), ("death", "death_date"),
          ("drug_era", "drug_era_end_date"), ("condition_era", "condition_era_end_date"))


def test_observation_periods_contain_every_event(dbs: dict) -> None:
    for name, con in dbs.items():
        assert one(con, "select count(*) - count(distinct person_id) from observation_period") == 0
        for table, column in EVENTS:
            outside = one(con, f"select count(*) from {table} t join observation_period o using "
                               f"(person_id) where t.{column} < o.observation_period_start_date "
                               f"or t.{column} > o.observation_period_end_date")
            assert outside == 0, f"{name}: {table}.{column} outside the observation period"


def test_death_is_after_birth_and_ends_the_record(dbs: dict) -> None:
    for name, con in dbs.items():
        assert one(con, "select count(*) from death") > 0, name
        bad = one(con, "select count(*) from death d join person p using (person_id) "
                       "where d.death_date < p.birth_datetime::date")
        assert bad == 0
        assert one(con, "select count(*) from death d join observation_period o using (person_id)"
                        " where d.death_date <> o.observation_period_end_date") == 0


def test_drug_eras_agree_with_exposures(dbs: dict) -> None:
    for name, con in dbs.items():
        counts = con.execute(
            "select (select count(*) from drug_exposure), "
            "(select sum(drug_exposure_count) from drug_era)").fetchone()
        assert counts[0] == counts[1], name
        outside = one(con, "select count(*) from drug_exposure d anti join drug_era e on "
                           "d.person_id = e.person_id and d.drug_concept_id = e.drug_concept_id "
                           "and d.drug_exposure_start_date between e.drug_era_start_date "
                           "and e.drug_era_end_date")
        assert outside == 0, name
        close = one(con, "select count(*) from (select drug_era_start_date s, "
                         "lag(drug_era_end_date) over (partition by person_id, drug_concept_id "
                         "order by drug_era_start_date) prev from drug_era) where s - prev <= 30")
        assert close == 0, f"{name}: eras closer than the 30-day persistence window"


def test_measurements_have_units_ranges_and_plausible_values(dbs: dict) -> None:
    con = dbs["midwest-academic"]
    rows = {r[0]: r[1:] for r in con.execute(
        "select measurement_concept_id, min(value_as_number), max(value_as_number), "
        "avg(value_as_number), count(*) filter (where unit_concept_id is null or range_low is "
        "null or range_high is null) from measurement group by 1").fetchall()}
    assert set(rows) == {3004410, 3004249, 3012888, 3016723, 46236952, 3038553, 3009966}
    assert all(r[3] == 0 for r in rows.values())
    a1c = rows[3004410]
    assert a1c[0] >= 4.0 and a1c[1] <= 15.0 and 5.0 < a1c[2] < 8.0
    assert 100 < rows[3004249][2] < 145 and 60 < rows[3012888][2] < 90  # blood pressure
    assert 22 < rows[3038553][2] < 34  # BMI


def test_hba1c_is_higher_in_untreated_diabetes(dbs: dict) -> None:
    con = dbs["midwest-academic"]
    treated, untreated = con.execute("""
        with dm as (select distinct person_id from condition_occurrence
                    where condition_concept_id in (201826, 201820)),
             met as (select person_id, min(drug_exposure_start_date) s from drug_exposure
                     where drug_concept_id = 1503297 group by 1)
        select avg(value_as_number) filter (where m.measurement_date >= met.s),
               avg(value_as_number) filter (where met.s is null)
        from measurement m join dm using (person_id) left join met using (person_id)
        where measurement_concept_id = 3004410""").fetchone()
    assert untreated > treated + 0.5


def test_profiles_differ_in_population(dbs: dict) -> None:
    def age(name: str) -> float:
        return one(dbs[name], "select avg(2025 - year_of_birth) from person")

    def share(name: str, where: str) -> float:
        return one(dbs[name], f"select avg(({where})::int) from person")

    assert age("rural-community") > age("urban-brazil") + 8
    assert share("rural-community", "race_concept_id = 8527") > 0.85
    assert share("urban-brazil", "race_concept_id = 8527") < 0.55
    assert share("urban-brazil", "race_source_value = 'parda' and race_concept_id = 0") > 0.35
    assert share("israel-centre", "race_concept_id = 0") == 1.0
    assert share("midwest-academic", "ethnicity_concept_id = 38003563") > 0.03
    assert share("canada-network", "ethnicity_concept_id = 0") == 1.0


def test_profiles_differ_in_care_and_coding(dbs: dict) -> None:
    def nsaid_share(name: str, drug: int) -> float:
        return one(dbs[name], f"select avg((drug_concept_id = {drug})::int) from drug_exposure "
                              "where drug_concept_id in (1118084, 1124300, 1177480, 1115008)")

    assert nsaid_share("urban-brazil", 1124300) > 3 * nsaid_share("midwest-academic", 1124300)
    assert nsaid_share("midwest-academic", 1118084) > 3 * nsaid_share("urban-brazil", 1118084)
    parent = one(dbs["rural-community"], "select avg((condition_concept_id = 201820)::int) from "
                                         "condition_occurrence where condition_concept_id in "
                                         "(201826, 201820)")
    assert parent > 0.15
    assert one(dbs["midwest-academic"], "select count(*) from condition_occurrence "
                                        "where condition_concept_id = 201820") == 0
    ckd_staged = one(dbs["canada-network"], "select avg((condition_concept_id = 443597)::int) from "
                                            "condition_occurrence where condition_concept_id in "
                                            "(443597, 46271022)")
    assert ckd_staged > 0.4
    assert one(dbs["canada-network"], "select max(days_supply) from drug_exposure") == 100
