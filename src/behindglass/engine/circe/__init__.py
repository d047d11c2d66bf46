"""Circe cohort definitions compiled to SQL on any engine behind :class:`Backend`."""

from behindglass.engine.circe.generate import CohortGeneration, generate_cohort

__all__ = ["CohortGeneration", "generate_cohort"]
