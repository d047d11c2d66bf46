"""The curated public API: what ``import behindglass`` promises."""

from __future__ import annotations

import doctest

import pytest

import behindglass as bg


def test_exports_resolve():
    for name in bg.__all__:
        assert getattr(bg, name) is not None, name


def test_design_sketch_builds_a_valid_study():
    t2d = bg.Cohort.condition(201826, descendants=True).age_between(18, 75)
    spec = bg.StudySpec(
        title="HbA1c control across the network", cohorts={"t2d": t2d},
        analyses=(bg.analyses.Characterize("t2d", by=["sex", "age_band", "race"]).to_spec(),),
    )
    assert bg.StudySpec.from_dict(spec.to_dict()) == spec


def test_errors_share_one_root():
    for err in (bg.SpecError, bg.LoadError, bg.EngineError, bg.NetworkError, bg.AuthError,
                bg.NotFoundError, bg.DisclosureError):
        assert issubclass(err, bg.BehindGlassError)


def test_bad_builder_input_is_a_spec_error():
    with pytest.raises(bg.SpecError, match="age_min"):
        bg.Cohort.condition(201826).age_between(90, 10)
    with pytest.raises(bg.SpecError, match="positive"):
        bg.Cohort.condition(-3)


@pytest.mark.parametrize("module", [bg, bg.analyses])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
