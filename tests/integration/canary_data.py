"""Canaries planted in patient rows, and the search for them in what left a site.

Each canary is a value that belongs to one row (or to two persons) and that no legitimate
aggregate can contain, so finding it outside a site proves a row-level leak:

* every source value of every event row and ``person_source_value`` starts with ``CANARY``
  and ends with the row's id; notes carry it in their title, text and source value;
* every person id is shifted to ``PERSON_OFFSET + id`` (twelve digits starting ``77000000``:
  no count, sum or statistic of this data comes near it);
* one celecoxib user at the first site is born on ``1905-07-13`` (over 100 at index, where the
  oldest other user is 47: alone in the 90+ band);
* that site's oral temperatures get plausible values, and one other celecoxib user's are all
  ``987654.321``: a released minimum, maximum or single value would show it;
* two celecoxib users of the second site have a condition whose concept name holds the
  canary: if a count of 2 or its label leaves the site (a covariate, a top concept), the
  name shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

CANARY = "CANARY7Q4Z"
PERSON_OFFSET = 770_000_000_000
PERSON_ID = re.compile(r"77000000\d{4}")
RARE_CONCEPT = 999_999_001
RARE_NAME = f"{CANARY} syndrome"
OLD_BIRTH = "1905-07-13"
EXTREME = 987654.321
TEMPERATURE = 3006322  # "Oral temperature": GiBleed records it without values
CELECOXIB = 1118084

# table -> (its id column, the source-value columns each row gets a canary in)
SOURCE_VALUES = {
    "condition_occurrence": ("condition_occurrence_id", ("condition_source_value",)),
    "drug_exposure": ("drug_exposure_id", ("drug_source_value",)),
    "procedure_occurrence": ("procedure_occurrence_id", ("procedure_source_value",)),
    "measurement": ("measurement_id", ("measurement_source_value", "value_source_value")),
    "observation": ("observation_id", ("observation_source_value", "value_source_value")),
    "visit_occurrence": ("visit_occurrence_id", ("visit_source_value",)),
}


def leaks(text: str) -> list[str]:
    """The canaries found in ``text`` (the found markers, never the text around them)."""
    found = [marker for marker in (CANARY, OLD_BIRTH, "19050713", "987654.32") if marker in text]
    found += sorted(set(PERSON_ID.findall(text)))[:3]
    return found


def _person_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'person_id' "
        "AND table_schema = 'main'").fetchall()]


def _plant_everywhere(con: duckdb.DuckDBPyConnection) -> None:
    """Canaries every site gets: shifted person ids, source values, notes, the concept."""
    for table in _person_tables(con):
        con.execute(f"UPDATE {table} SET person_id = person_id + {PERSON_OFFSET}")
    con.execute(f"UPDATE person SET person_source_value = '{CANARY}-MRN-' || person_id")
    for table, (id_column, columns) in SOURCE_VALUES.items():
        sets = ", ".join(f"{c} = '{CANARY}-{c}-' || {id_column}" for c in columns)
        con.execute(f"UPDATE {table} SET {sets}")
    con.execute(
        "INSERT INTO note (note_id, person_id, note_date, note_type_concept_id,"
        " note_class_concept_id, note_title, note_text, encoding_concept_id,"
        " language_concept_id, note_source_value)"
        f" SELECT row_number() OVER (ORDER BY person_id), person_id, DATE '2010-01-01', 0, 0,"
        f" '{CANARY} title ' || person_id, 'Seen today. {CANARY} note of ' || person_id,"
        f" 0, 0, '{CANARY}-note-' || person_id FROM person ORDER BY person_id LIMIT 30")
    con.execute(
        "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id,"
        " concept_class_id, standard_concept, concept_code, valid_start_date, valid_end_date)"
        " VALUES (?, ?, 'Condition', 'SNOMED', 'Clinical Finding', 'S', ?,"
        " DATE '1970-01-01', DATE '2099-12-31')", [RARE_CONCEPT, RARE_NAME, CANARY])
    con.execute("INSERT INTO concept_ancestor VALUES (?, ?, 0, 0)", [RARE_CONCEPT, RARE_CONCEPT])


def _plant_old_person_and_extreme(con: duckdb.DuckDBPyConnection) -> None:
    """The 1905-born celecoxib user, and the extreme temperature, at the first site."""
    # the user whose first exposure, inside an observation period, is the latest
    (old,) = con.execute(
        "SELECT person_id FROM (SELECT d.person_id, min(d.drug_exposure_start_date) AS first"
        " FROM drug_exposure d JOIN concept_ancestor ca"
        " ON ca.descendant_concept_id = d.drug_concept_id WHERE ca.ancestor_concept_id = ?"
        " GROUP BY d.person_id) f JOIN observation_period o USING (person_id)"
        " WHERE f.first BETWEEN o.observation_period_start_date"
        " AND o.observation_period_end_date ORDER BY f.first DESC, person_id LIMIT 1",
        [CELECOXIB]).fetchone()
    con.execute(f"UPDATE person SET year_of_birth = 1905, month_of_birth = 7, day_of_birth = 13,"
                f" birth_datetime = TIMESTAMP '{OLD_BIRTH} 00:00:00' WHERE person_id = ?", [old])
    # plausible temperatures (36.0 .. 38.4 by record), one person's all extreme
    con.execute("UPDATE measurement SET value_as_number = 36.0 + (measurement_id % 25) / 10.0"
                " WHERE measurement_concept_id = ?", [TEMPERATURE])
    con.execute("UPDATE measurement SET value_as_number = ? WHERE measurement_concept_id = ?"
                " AND person_id = (SELECT min(m.person_id) FROM measurement m"
                " JOIN drug_exposure d USING (person_id) JOIN concept_ancestor ca"
                " ON ca.descendant_concept_id = d.drug_concept_id"
                " WHERE m.measurement_concept_id = ? AND ca.ancestor_concept_id = ?"
                " AND m.person_id <> ?)", [EXTREME, TEMPERATURE, TEMPERATURE, CELECOXIB, old])


def _plant_rare_condition(con: duckdb.DuckDBPyConnection) -> None:
    """Two celecoxib users of this site get the canary condition 30 days before their first
    exposure, inside their observation: a covariate (and a top concept) of two persons."""
    con.execute(
        "INSERT INTO condition_occurrence (condition_occurrence_id, person_id,"
        " condition_concept_id, condition_start_date, condition_end_date,"
        " condition_type_concept_id, condition_source_value)"
        " SELECT 900000000 + row_number() OVER (ORDER BY person_id), person_id, ?,"
        f" first - 30, first - 29, 0, '{CANARY}-rare-' || person_id"
        " FROM (SELECT d.person_id, min(d.drug_exposure_start_date) AS first"
        " FROM drug_exposure d JOIN concept_ancestor ca"
        " ON ca.descendant_concept_id = d.drug_concept_id WHERE ca.ancestor_concept_id = ?"
        " GROUP BY d.person_id) f JOIN observation_period o USING (person_id)"
        " WHERE f.first - 30 BETWEEN o.observation_period_start_date"
        " AND o.observation_period_end_date ORDER BY person_id LIMIT 2",
        [RARE_CONCEPT, CELECOXIB])


def plant(dbs: dict[str, Path]) -> None:
    """Plant every canary in the site stores (in place): the first site gets the old person
    and the extreme value, the second the rare condition, all of them the rest."""
    names = list(dbs)
    for k, name in enumerate(names):
        con = duckdb.connect(str(dbs[name]))
        try:
            _plant_everywhere(con)
            if k == 0:
                _plant_old_person_and_extreme(con)
            if k == 1 % len(names):
                _plant_rare_condition(con)
        finally:
            con.close()
