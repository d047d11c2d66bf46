"""The vocabulary tables written with every data set, built from ``concepts``.

CONCEPT holds every concept the data uses plus the domain, vocabulary and relationship
concepts the other vocabulary tables point to; CONCEPT_ANCESTOR is the transitive closure
of the pruned hierarchies (with the zero-level row of every standard and classification
concept to itself); CONCEPT_RELATIONSHIP has the matching 'Is a' / 'Subsumes' pairs.
Levels of separation count edges of the pruned hierarchy, not of the full vocabulary.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from behindglass.synth.concepts import CLINICAL_CONCEPTS, HIERARCHY, IS_A, SUBSUMES, Concept
from behindglass.synth.writer import Columns

VALID_START, VALID_END = date(1970, 1, 1), date(2099, 12, 31)

# domain_id -> domain_concept_id, as in the GiBleed DOMAIN table ("Provider" is not there:
# its concept is written as 0).
DOMAINS: dict[str, int] = {
    "Condition": 19, "Drug": 13, "Measurement": 21, "Procedure": 10, "Observation": 27,
    "Visit": 8, "Gender": 2, "Race": 3, "Ethnicity": 4, "Unit": 16, "Type Concept": 58,
    "Metadata": 7, "Route": 15, "Currency": 34, "Relationship": 31, "Provider": 0,
    "Device": 17,
}
# vocabulary_id -> (name, vocabulary_concept_id) from the GiBleed VOCABULARY table; the
# two CMS vocabularies carry their current names, "Type Concept" is newer than that table.
VOCABULARIES: dict[str, tuple[str, int]] = {
    "SNOMED": ("Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)", 44819097),
    "RxNorm": ("RxNorm (NLM)", 44819104),
    "LOINC": ("Logical Observation Identifiers Names and Codes (Regenstrief Institute)",
              44819102),
    "UCUM": ("Unified Code for Units of Measure (Regenstrief Institute)", 44819107),
    "ATC": ("WHO Anatomic Therapeutic Chemical Classification", 44819117),
    "Gender": ("OMOP Gender", 44819108),
    "Race": ("Race and Ethnicity Code Set (USBC)", 44819109),
    "Ethnicity": ("OMOP Ethnicity", 44819134),
    "Visit": ("OMOP Visit", 44819119),
    "Currency": ("International Currency Symbol (ISO 4217)", 44819153),
    "CVX": ("CDC Vaccine Administered CVX (NCIRD)", 581400),
    "CMS Place of Service": ("Place of Service Codes for Professional Claims (CMS)", 44819110),
    "Medicare Specialty": ("Medicare provider/supplier specialty codes (CMS)", 44819138),
    "Type Concept": ("OMOP Type Concept", 0),
    "CDM": ("OMOP Common DataModel", 32485),
    "Domain": ("OMOP Domain", 44819147),
    "Vocabulary": ("OMOP Vocabulary", 44819232),
    "Relationship": ("OMOP Relationship", 44819235),
    "None": ("OMOP Standardized Vocabularies", 44819096),
}
RELATIONSHIPS = (("Is a", "Is a", "1", "0", "Subsumes", IS_A),
                 ("Subsumes", "Subsumes", "1", "1", "Is a", SUBSUMES))


def all_concepts() -> tuple[Concept, ...]:
    """Clinical concepts plus the metadata concepts the vocabulary tables refer to."""
    metadata = [Concept(cid, name, "Metadata", "Domain", "Domain", None, "OMOP generated", "V")
                for name, cid in DOMAINS.items() if cid]
    metadata += [Concept(cid, name, "Metadata", "Vocabulary", "Vocabulary", None,
                         "OMOP generated", "V")
                 for name, (_, cid) in VOCABULARIES.items() if cid]
    by_id = {x.concept_id: x for x in (*CLINICAL_CONCEPTS, *metadata)}
    return tuple(by_id[k] for k in sorted(by_id))


def ancestry() -> list[tuple[int, int, int, int]]:
    """(ancestor, descendant, min levels, max levels), including self rows."""
    parents: dict[int, list[int]] = defaultdict(list)
    for child, parent in HIERARCHY:
        parents[child].append(parent)
    rows = []
    for concept in CLINICAL_CONCEPTS:
        if concept.standard not in ("S", "C"):
            continue
        levels: dict[int, list[int]] = {concept.concept_id: [0]}
        frontier = [(concept.concept_id, 0)]
        while frontier:
            node, depth = frontier.pop()
            for parent in parents.get(node, []):
                levels.setdefault(parent, []).append(depth + 1)
                frontier.append((parent, depth + 1))
        rows += [(anc, concept.concept_id, min(d), max(d)) for anc, d in levels.items()]
    return sorted(rows)


def vocabulary_tables() -> dict[str, Columns]:
    concepts = all_concepts()
    used_classes = sorted({x.concept_class for x in concepts})
    used_domains = sorted({x.domain for x in concepts})
    used_vocabularies = sorted({x.vocabulary for x in concepts})
    anc = ancestry()
    pairs = sorted(HIERARCHY)
    n_rel = 2 * len(pairs)
    return {
        "concept": {
            "concept_id": [x.concept_id for x in concepts],
            "concept_name": [x.name for x in concepts],
            "domain_id": [x.domain for x in concepts],
            "vocabulary_id": [x.vocabulary for x in concepts],
            "concept_class_id": [x.concept_class for x in concepts],
            "standard_concept": [x.standard for x in concepts],
            "concept_code": [x.code for x in concepts],
            "valid_start_date": [VALID_START] * len(concepts),
            "valid_end_date": [VALID_END] * len(concepts),
        },
        "vocabulary": {
            "vocabulary_id": used_vocabularies,
            "vocabulary_name": [VOCABULARIES[v][0] for v in used_vocabularies],
            "vocabulary_reference": ["OMOP generated"] * len(used_vocabularies),
            "vocabulary_version": ["behindglass subset"] * len(used_vocabularies),
            "vocabulary_concept_id": [VOCABULARIES[v][1] for v in used_vocabularies],
        },
        "domain": {
            "domain_id": used_domains,
            "domain_name": used_domains,
            "domain_concept_id": [DOMAINS[d] for d in used_domains],
        },
        "concept_class": {
            "concept_class_id": used_classes,
            "concept_class_name": used_classes,
            "concept_class_concept_id": [0] * len(used_classes),
        },
        "concept_relationship": {
            "concept_id_1": [a for a, _ in pairs] + [b for _, b in pairs],
            "concept_id_2": [b for _, b in pairs] + [a for a, _ in pairs],
            "relationship_id": ["Is a"] * len(pairs) + ["Subsumes"] * len(pairs),
            "valid_start_date": [VALID_START] * n_rel,
            "valid_end_date": [VALID_END] * n_rel,
        },
        "relationship": {
            "relationship_id": [r[0] for r in RELATIONSHIPS],
            "relationship_name": [r[1] for r in RELATIONSHIPS],
            "is_hierarchical": [r[2] for r in RELATIONSHIPS],
            "defines_ancestry": [r[3] for r in RELATIONSHIPS],
            "reverse_relationship_id": [r[4] for r in RELATIONSHIPS],
            "relationship_concept_id": [r[5] for r in RELATIONSHIPS],
        },
        "concept_ancestor": {
            "ancestor_concept_id": [r[0] for r in anc],
            "descendant_concept_id": [r[1] for r in anc],
            "min_levels_of_separation": [r[2] for r in anc],
            "max_levels_of_separation": [r[3] for r in anc],
        },
    }
