"""OHDSI Circe cohort definitions (as ATLAS exports them) as plain, immutable data."""

from behindglass.core.circe.model import CohortExpression
from behindglass.core.circe.parse import load_circe, load_definitions, parse_circe

__all__ = ["CohortExpression", "load_circe", "load_definitions", "parse_circe"]
