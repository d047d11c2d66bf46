"""``behindglass deid``: find and replace PHI in free text, score a de-identifier on a gold
corpus, and de-identify DICOM headers."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from behindglass.cli.deid_dicom_cmd import dicom
from behindglass.core.errors import LoadError

_NER_HELP = ("add the statistical NER vote: 'default' for the shipped spaCy model, or the "
             "path of a site-supplied spaCy pipeline")


@click.group("deid")
def deid() -> None:
    """De-identify free text and DICOM; measure how well it works."""


deid.add_command(dicom)


def _site_lists(path: Path | None) -> Any:
    if path is None:
        return None
    from behindglass.deid.text.site_lists import SiteLists

    return SiteLists.load(path)


def _ner(value: str | None) -> bool | str:
    if value is None:
        return False
    return True if value == "default" else value


def _secret(secret_file: Path | None, create: bool) -> Any:
    from behindglass.cli.site_secret import site_secret
    from behindglass.deid.secret import SiteSecret

    if secret_file is None:
        # Tags need no secret; an ephemeral one keeps the API uniform and links nothing.
        return SiteSecret(os.urandom(32))
    return site_secret(secret_file, create, "other surrogates and date shifts")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise LoadError(f"not JSON: {exc}", file=str(path), line=number) from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) \
                    or "id" not in row:
                raise LoadError('each line must be an object with "id" and "text" (a string)',
                                file=str(path), line=number)
            yield number, row


def _atomic_writer(out: Path) -> tuple[Any, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    return os.fdopen(fd, "w", encoding="utf-8"), Path(tmp)


@deid.command("detect")
@click.argument("in_path", metavar="IN.jsonl",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out_path", metavar="OUT.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site-lists", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the site's deny-lists folder (behindglass deid site-lists)")
@click.option("--ner", default=None, help=_NER_HELP)
@click.option("--quiet", is_flag=True, help="no progress bar")
def detect(in_path: Path, out_path: Path, site_lists: Path | None, ner: str | None,
           quiet: bool) -> None:
    """Write the PHI spans found in each line {"id", "text"} of IN.jsonl.

    Each output line is {"id": ..., "spans": [{"start", "end", "type"}, ...]} with
    character offsets into the input text, for any scorer.
    """
    from behindglass.deid.text.analyzer import default_analyzer
    from behindglass.deid.text.registry import Context

    analyzer = default_analyzer(ner=_ner(ner))
    context_lists = _site_lists(site_lists)
    handle, tmp = _atomic_writer(out_path)
    count = 0
    try:
        with handle, click.progressbar(length=in_path.stat().st_size, label="detect",
                                       file=sys.stderr, hidden=quiet) as bar:
            for _, row in _read_jsonl(in_path):
                found = analyzer.analyze(row["text"], Context(context_lists, row.get("patient")))
                spans = [{"start": d.start, "end": d.end, "type": d.label} for d in found]
                handle.write(json.dumps({"id": row["id"], "spans": spans},
                                        ensure_ascii=False) + "\n")
                count += 1
                bar.update(len(row["text"].encode("utf-8")))
        tmp.replace(out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if not quiet:
        click.echo(f"{count:,} documents -> {out_path}", err=True)


@deid.command("text")
@click.argument("in_path", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.argument("out_path", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--mode", type=click.Choice(["surrogate", "tag"]), default="surrogate",
              show_default=True, help="realistic surrogates, or tags such as [NAME]")
@click.option("--date-mode", type=click.Choice(["year", "shift", "tag"]), default="year",
              show_default=True,
              help="year: keep only the year (Safe Harbor); shift: move by the patient's "
                   "shift (needs --patient or a 'patient' field); tag: [DATE]")
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path),
              help="the site secret: surrogates and date shifts are keyed by it "
                   "(without one, surrogates differ on every run)")
@click.option("--create-secret", is_flag=True, help="create --secret-file if missing")
@click.option("--max-shift-days", default=365, show_default=True, type=click.IntRange(1, 3650))
@click.option("--patient", help="source person key of the note(s), for consistent "
                                "surrogates and date shifts")
@click.option("--site-lists", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ner", default=None, help=_NER_HELP)
@click.option("--force", is_flag=True, help="replace an existing OUT")
@click.option("--quiet", is_flag=True)
def text(in_path: Path, out_path: Path, mode: str, date_mode: str, secret_file: Path | None,
         create_secret: bool, max_shift_days: int, patient: str | None,
         site_lists: Path | None, ner: str | None, force: bool, quiet: bool) -> None:
    """Write a de-identified copy of IN (a text file, a folder of .txt files, or a .jsonl
    file of {"id", "text"[, "patient"]} lines) to OUT."""
    from behindglass.deid.text.deidentifier import TextDeidentifier

    if out_path.exists() and not force:
        raise click.ClickException(f"{out_path} exists; use --force to replace it")
    if in_path.is_dir() and out_path.resolve().is_relative_to(in_path.resolve()):
        raise click.ClickException("OUT must not be inside IN")
    deidentifier = TextDeidentifier(
        _secret(secret_file, create_secret), site_lists=_site_lists(site_lists),
        mode=mode, date_mode=date_mode, max_shift_days=max_shift_days,  # type: ignore[arg-type]
        ner=_ner(ner))
    if in_path.is_dir():
        files = sorted(p for p in in_path.rglob("*.txt") if p.is_file())
        with click.progressbar(files, label="notes", file=sys.stderr, hidden=quiet) as bar:
            for source in bar:
                target = out_path / source.relative_to(in_path)
                _write_text(target, deidentifier.deidentify(_read_text(source),
                                                            patient=patient))
    elif in_path.suffix == ".jsonl":
        handle, tmp = _atomic_writer(out_path)
        try:
            with handle:
                for _, row in _read_jsonl(in_path):
                    row["text"] = deidentifier.deidentify(
                        row["text"], patient=row.get("patient", patient))
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            tmp.replace(out_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    else:
        _write_text(out_path, deidentifier.deidentify(_read_text(in_path), patient=patient))
    if not quiet:
        counts = ", ".join(f"{label} {n:,}" for label, n in deidentifier.replaced.most_common())
        click.echo(f"replaced: {counts or 'nothing'} -> {out_path}", err=True)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                        file=str(path)) from exc


def _write_text(path: Path, content: str) -> None:
    handle, tmp = _atomic_writer(path)
    with handle:
        handle.write(content)
    tmp.replace(path)


@deid.command("eval")
@click.option("--gold", "gold_spec", required=True, metavar="FORMAT:PATH",
              help="gold corpus: jsonl:, brat:, i2b2: or physionet: followed by its path "
                   "(the format is detected when left out)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--ignore", default="STATE,COUNTRY,PROFESSION", show_default=True,
              help="comma-separated gold labels scored apart (not Safe Harbor identifiers)")
@click.option("--site-lists", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ner", default=None, help=_NER_HELP)
@click.option("--leaks", "leaks_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write every missed gold span (id, label, offsets, text) as JSONL here; "
                   "it holds PHI from the gold corpus")
@click.option("--quiet", is_flag=True, help="no progress")
def evaluate_cmd(gold_spec: str, as_json: bool, ignore: str, site_lists: Path | None,
                 ner: str | None, leaks_path: Path | None, quiet: bool) -> None:
    """Score the de-identifier on a gold corpus: leak-free, any-overlap and character
    recall, precision, F2, documents with leaks, Wilson bounds and throughput."""
    from behindglass.deid.evaluation import evaluate, leaks, load_gold
    from behindglass.deid.text.analyzer import default_analyzer
    from behindglass.deid.text.registry import Context

    gold = load_gold(gold_spec)
    analyzer = default_analyzer(ner=_ner(ner))
    context = Context(_site_lists(site_lists))
    ignored = [x.strip().upper() for x in ignore.split(",") if x.strip()]
    report = evaluate(gold, lambda t: analyzer.analyze(t, context), progress=not quiet,
                      ignore=ignored)
    report.extra.update({"gold": gold_spec, "ner": ner or False,
                         "site_lists": site_lists is not None})
    if leaks_path is not None:
        predicted = {doc.id: analyzer.analyze(doc.text, context) for doc in gold}
        with leaks_path.open("w", encoding="utf-8") as handle:
            for leak in leaks(gold, predicted, ignore=ignored):
                handle.write(json.dumps(leak._asdict(), ensure_ascii=False) + "\n")
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.render_text())


evaluate_cmd.name = "eval"


@deid.command("site-lists")
@click.argument("extract", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "source_format", type=click.Choice(["synthea-csv", "fhir"]),
              required=True, help="the identifiable extract's format")
def site_lists_cmd(extract: Path, out: Path, source_format: str) -> None:
    """Build the site's deny-lists (names, record numbers, addresses, staff, places) from its
    own identifiable EXTRACT into the folder OUT. The lists are PHI: keep them at the site."""
    from behindglass.deid.text.site_lists_source import (
        site_lists_from_fhir,
        site_lists_from_synthea,
    )

    lists = (site_lists_from_synthea(extract) if source_format == "synthea-csv"
             else site_lists_from_fhir(extract))
    lists.save(out)
    counts = ", ".join(f"{label} {n:,}" for label, n in lists.counts().items())
    click.echo(f"site lists -> {out}: {counts}", err=True)


site_lists_cmd.name = "site-lists"
