"""``behindglass synth`` writes a site and reports what it wrote."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from behindglass.cli.main import cli


def test_synth_command_writes_gzip_files(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["synth", "--profile", "canada-network", "--persons", "400",
                                      "--seed", "3", "--out", str(out), "--gzip", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "person.csv.gz").exists() and (out / "concept.csv.gz").exists()
    assert "persons/s" in result.output and "person" in result.output


def test_synth_command_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "site"
    args = ["synth", "--profile", "urban-brazil", "--persons", "200", "--out", str(out),
            "--quiet", "--workers", "1"]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    again = runner.invoke(cli, args)
    assert again.exit_code != 0 and "not empty" in str(again.exception)
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0


def test_synth_command_lists_profiles_in_help() -> None:
    result = CliRunner().invoke(cli, ["synth", "--help"])
    assert result.exit_code == 0
    for name in ("midwest-academic", "rural-community", "urban-brazil", "israel-centre",
                 "canada-network"):
        assert name in result.output
