"""The analyses a site has installed. A study may only name analyses listed here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from behindglass.analyses.base import Analysis
from behindglass.analyses.characterize import CharacterizeAnalysis, CohortCountAnalysis
from behindglass.analyses.cohort_method import CohortMethodAnalysis
from behindglass.analyses.contingency import ContingencyAnalysis
from behindglass.analyses.covariates import CovariatesAnalysis
from behindglass.analyses.cox import CoxAnalysis
from behindglass.analyses.data_quality import DataQualityAnalysis
from behindglass.analyses.descriptive import DescriptiveAnalysis
from behindglass.analyses.glm import GlmAnalysis
from behindglass.analyses.incidence import IncidenceAnalysis
from behindglass.analyses.survival import KaplanMeierAnalysis
from behindglass.core.errors import SpecError

CATALOG: Mapping[str, Analysis] = MappingProxyType({
    a.kind: a for a in (CohortCountAnalysis(), CharacterizeAnalysis(),
                        CovariatesAnalysis(), IncidenceAnalysis(), DataQualityAnalysis(),
                        KaplanMeierAnalysis(), CoxAnalysis(), GlmAnalysis(),
                        CohortMethodAnalysis(), DescriptiveAnalysis(),
                        ContingencyAnalysis())
})


def get_analysis(kind: str) -> Analysis:
    try:
        return CATALOG[kind]
    except KeyError:
        raise SpecError(
            f"unknown analysis kind {kind!r}; this catalog has: {sorted(CATALOG)}"
        ) from None
