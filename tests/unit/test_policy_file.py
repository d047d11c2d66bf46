"""The site policy file: the template is the defaults, the example is realistic, and every
kind of bad file is refused with the file, the field and the reason named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from behindglass.analyses.catalog import CATALOG
from behindglass.core.errors import PolicyError
from behindglass.core.policy import SitePolicy
from behindglass.privacy.allowed import validate_against_catalog
from behindglass.site.policy_file import (
    load_policy,
    parse_policy,
    policy_digest,
    policy_template,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "policy" / "site-policy.toml"
DOCS = ROOT / "docs" / "policy.md"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _fields(sub, prefix + name + ".")
    return out


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    return message


# -- the template and the example ------------------------------------------------------------
def test_template_loads_to_the_defaults(tmp_path):
    assert load_policy(write(tmp_path, policy_template())) == SitePolicy()


def test_template_names_every_setting_of_the_model():
    """Adding a field to the policy model without explaining it to stewards fails here."""
    text = policy_template()
    for dotted in _fields(SitePolicy):
        leaf = dotted.rsplit(".", 1)[-1]
        if leaf in ("disclosure", "analyses", "differencing", "privacy", "approvals",
                    "limits"):
            assert f"[{dotted}]" in text, dotted
        elif leaf == "standing":
            assert "[[approvals.standing]]" in text
        else:
            assert re.search(rf"^#? ?{leaf} = ", text, re.M), dotted


def test_docs_describe_every_setting():
    docs = DOCS.read_text(encoding="utf-8")
    for dotted in _fields(SitePolicy):
        leaf = dotted.rsplit(".", 1)[-1]
        assert f"`{leaf}`" in docs or f"`[{dotted}]`" in docs, dotted
    assert "examples/policy/site-policy.toml" in docs


def test_example_is_realistic_and_valid():
    policy = load_policy(EXAMPLE)
    assert policy != SitePolicy()
    standing = policy.approvals.standing
    assert len(standing) == 1 and "characterize" in standing[0].kinds
    assert len(standing[0].researchers) == 2
    assert policy.analyses.limits["characterize"]["top_n"] == 100
    assert policy.privacy.enabled is False
    assert validate_against_catalog(policy, CATALOG) == []


def test_example_is_the_template_with_values_changed():
    """The example teaches the same comments: the template's comment lines (after its
    opening paragraph, which the example rewrites) are all in it."""
    example = EXAMPLE.read_text(encoding="utf-8").splitlines()
    template = policy_template()
    for line in template[template.index("[disclosure]"):].splitlines():
        if line.startswith("# ") and not re.match(r"^# \[|^# \w+ = ", line):
            assert line in example, line


def test_digest_ignores_layout_but_not_rules(tmp_path):
    text = policy_template()
    compact = "version = 1\n[disclosure]\nmin_cell = 11\n"
    assert policy_digest(parse_policy(text)) == policy_digest(parse_policy(compact))
    changed = parse_policy(compact.replace("11", "12"))
    assert policy_digest(changed) != policy_digest(SitePolicy())
    assert re.fullmatch(r"[0-9a-f]{64}", policy_digest(SitePolicy()))


# -- bad input: each names the field ---------------------------------------------------------
@pytest.mark.parametrize(("text", "field", "reason"), [
    ("[disclosure]\nmin_cel = 11\n", "disclosure.min_cel", "unknown setting"),
    ("[disclosure]\nmin_cell = 'eleven'\n", "disclosure.min_cell", "integer"),
    ("[disclosure]\nmin_cell = 0\n", "disclosure.min_cell", "greater than or equal to 1"),
    ("[disclosure]\nrounding = 1\n", "disclosure.rounding", "changes nothing"),
    ("[privacy]\nenabled = true\nmechanism = 'gaussian'\n", "privacy.delta", "delta > 0"),
    ("version = 2\n", "version", "version 2 is not supported"),
    ("[privacy]\nmechanism = 'exponential'\n", "privacy.mechanism", "laplace"),
    ("[privacy]\nepsilon = inf\n", "privacy.epsilon", "finite"),
    ("[differencing]\nk = 0\n", "differencing.k", "greater than or equal to 1"),
    ("[approvals]\ntrusted_researchers = 'alice'\n", "approvals.trusted_researchers", "array"),
    ("[[approvals.standing]]\nname = 'x'\n", "approvals.standing[0].kinds", "required"),
    ("[analyses.limits.characterize]\ntop_n = true\n", "analyses.limits",
     "characterize.top_n = true sets no limit"),
    ("[analyses.limits.glm]\ncovariates = { max = 3 }\n", "analyses.limits", "glm.covariates"),
    ("disclosure = 11\n", "disclosure", "must be a table"),
    ("[[approvals.standing]]\n", "approvals.standing[0].name", "required"),
])
def test_bad_values_name_the_field(tmp_path, text, field, reason):
    message = error_of(tmp_path, text)
    assert f"- {field}: " in message, message
    assert reason in message, message


def test_strict_types_no_silent_coercion(tmp_path):
    """In lax pydantic, min_cell = true would be min_cell 1: every count released."""
    assert "disclosure.min_cell" in error_of(tmp_path, "[disclosure]\nmin_cell = true\n")
    assert "disclosure.secondary_suppression" in error_of(
        tmp_path, "[disclosure]\nsecondary_suppression = 'no'\n")
    assert "disclosure.min_cell" in error_of(tmp_path, "[disclosure]\nmin_cell = 11.0\n")
    # TOML dates cannot sneak into a text field either
    message = error_of(tmp_path, "revision = 2026-11-01\n[disclosure]\nmin_cell = 2023-01-01\n")
    assert "- revision: a TOML date" in message and "- disclosure.min_cell: a TOML date" in message
    assert "2 problems" in message


def test_every_problem_is_listed_at_once(tmp_path):
    message = error_of(tmp_path, "[disclosure]\nmin_cell = 0\nrounding = 1\n"
                                 "[differencing]\nwindow_hour = 3\n")
    assert "3 problems" in message
    for field in ("disclosure.min_cell", "disclosure.rounding", "differencing.window_hour"):
        assert field in message


def test_unknown_setting_lists_the_right_spellings(tmp_path):
    message = error_of(tmp_path, "[approvals]\nreviewer = 3\n")
    assert "approvals.reviewer: unknown setting" in message
    assert "reviewers" in message and "trusted_researchers" in message
    message = error_of(tmp_path, "[[approvals.standing]]\nname = 'x'\nkinds = ['a']\nwho = 1\n")
    assert "approvals.standing[0].who" in message and "min_cell_at_least" in message
    assert "unknown setting" in error_of(tmp_path, "[disclosures]\nmin_cell = 5\n")


def test_toml_syntax_error_gives_line_and_column(tmp_path):
    message = error_of(tmp_path, "version = 1\n[disclosure]\nmin_cell 11\n")
    assert "line 3, column" in message and "TOML syntax error" in message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="is a directory"):
        load_policy(tmp_path)


def test_not_utf8_is_refused(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"revision = '\xff'\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(path)


def test_long_values_are_not_quoted_in_full(tmp_path):
    message = error_of(tmp_path, f"[disclosure]\nmin_cell = '{'x' * 500}'\n")
    assert "x" * 100 not in message
