"""Concept sets resolved against the site's vocabulary, as Circe resolves them.

An item's own concept counts only if the site's ``concept`` table has it; descendants
come from ``concept_ancestor`` and must be valid (``invalid_reason IS NULL``); "mapped"
adds the non-standard concepts that map to the included ones; excluded items (with their
descendants and mapped concepts) are removed.
"""

from __future__ import annotations

from behindglass.core.circe.model import ConceptSet, ConceptSetItem
from behindglass.engine.backend import int_list


def _ids(items: list[ConceptSetItem]) -> str:
    return int_list([i.concept_id for i in items])


def _with_descendants(items: list[ConceptSetItem]) -> str:
    parts = [f"SELECT concept_id FROM concept WHERE concept_id IN ({_ids(items)})"]
    desc = [i for i in items if i.include_descendants]
    if desc:
        parts.append(
            "SELECT c.concept_id FROM concept c JOIN concept_ancestor ca"
            " ON ca.descendant_concept_id = c.concept_id"
            f" WHERE c.invalid_reason IS NULL AND ca.ancestor_concept_id IN ({_ids(desc)})"
        )
    return " UNION ".join(parts)


def _concepts(items: list[ConceptSetItem]) -> str:
    query = _with_descendants(items)
    mapped = [i for i in items if i.include_mapped]
    if mapped:
        query += (
            f" UNION SELECT cr.concept_id_1 FROM ({_with_descendants(mapped)}) M"
            " JOIN concept_relationship cr ON cr.concept_id_2 = M.concept_id"
            " AND cr.relationship_id = 'Maps to' AND cr.invalid_reason IS NULL"
        )
    return query


def concept_set_sql(cs: ConceptSet) -> str:
    """``codeset_id, concept_id`` of one concept set (no rows if it includes nothing)."""
    include = [i for i in cs.items if not i.is_excluded]
    exclude = [i for i in cs.items if i.is_excluded]
    if not include:
        return f"SELECT {int(cs.id)} AS codeset_id, concept_id FROM concept WHERE 1 = 0"
    sql = f"SELECT DISTINCT {int(cs.id)} AS codeset_id, I.concept_id FROM ({_concepts(include)}) I"
    if exclude:
        sql += (f" LEFT JOIN ({_concepts(exclude)}) X ON X.concept_id = I.concept_id"
                " WHERE X.concept_id IS NULL")
    return sql


def codesets_sql(concept_sets: tuple[ConceptSet, ...]) -> str:
    if not concept_sets:
        return ("SELECT CAST(0 AS INTEGER) AS codeset_id, CAST(0 AS BIGINT) AS concept_id"
                " FROM concept WHERE 1 = 0")
    return " UNION ALL ".join(concept_set_sql(cs) for cs in concept_sets)
