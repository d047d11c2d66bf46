"""``behindglass notes``: write and inspect synthetic clinical-note gold corpora."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click

from behindglass.synth.notes import FORMATS, KINDS, LABELS, SPLITS, Note, generate_notes
from behindglass.synth.notes.corpus import site_list_pairs
from behindglass.synth.notes.formats import read_corpus, write_corpus


@click.group("notes")
def notes() -> None:
    """Synthetic clinical notes with planted PHI at exact offsets (de-identification gold)."""


def _counted(stream: Iterator[Note], labels: Counter[str], kinds: Counter[str]) -> Iterator[Note]:
    for note in stream:
        kinds[note.kind] += 1
        labels.update(span.label for span in note.spans)
        yield note


@notes.command("generate")
@click.option("--count", default=1_000, show_default=True, type=click.IntRange(1),
              help="number of notes")
@click.option("--seed", default=0, show_default=True, type=int,
              help="random seed; the same arguments give byte-identical output")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="a .jsonl file (jsonl) or a folder (brat, i2b2)")
@click.option("--format", "out_format", type=click.Choice(FORMATS), default="jsonl",
              show_default=True)
@click.option("--split", type=click.Choice(SPLITS), default="dev", show_default=True,
              help="dev for building and tuning, validation for checking; disjoint streams")
@click.option("--kinds", default=",".join(KINDS), show_default=True,
              help="comma-separated note kinds")
@click.option("--site-lists", "site_lists_out", type=click.Path(path_type=Path),
              help="also write the deny-lists a hospital would hold for these patients "
                   "(names, record numbers, addresses, staff; not relatives) to this folder")
@click.option("--force", is_flag=True, help="replace an existing output")
@click.option("--quiet", is_flag=True, help="no progress bar and no summary")
def generate(count: int, seed: int, out: Path, out_format: str, split: str, kinds: str,
             site_lists_out: Path | None, force: bool, quiet: bool) -> None:
    """Write a gold corpus of COUNT synthetic notes."""
    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise click.BadParameter(f"unknown kind(s) {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(KINDS)}", param_hint="--kinds")
    if out.exists():
        if not force:
            raise click.ClickException(f"{out} exists; use --force to replace it")
        if out.is_dir():
            shutil.rmtree(out)
        else:
            out.unlink()
    labels: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    pairs: list[tuple[str, str]] = []
    collect = (lambda facts: pairs.extend(site_list_pairs(facts))) if site_lists_out else None
    stream = _counted(generate_notes(count, seed, split, chosen, on_patient=collect), labels,
                      per_kind)
    if quiet:
        write_corpus(stream, out, out_format)
    else:
        with click.progressbar(stream, length=count, label="notes", file=sys.stderr) as bar:
            write_corpus(bar, out, out_format)
        _summary(out, labels, per_kind)
    if site_lists_out is not None:
        from behindglass.deid.text.site_lists import SiteLists

        SiteLists.build(pairs).save(site_lists_out)


@notes.command("stats")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "in_format", type=click.Choice(FORMATS), default=None,
              help="corpus format [default: detected]")
def stats(path: Path, in_format: str | None) -> None:
    """Count notes per kind and spans per label in a gold corpus."""
    labels: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    for _ in _counted(iter(read_corpus(path, in_format)), labels, per_kind):
        pass
    _summary(path, labels, per_kind, err=False)


def _summary(path: Path, labels: Counter[str], kinds: Counter[str], err: bool = True) -> None:
    click.echo(f"{path}: {sum(kinds.values()):,} notes, {sum(labels.values()):,} spans", err=err)
    for kind, n in sorted(kinds.items()):
        click.echo(f"  {kind:<20} {n:>8,}", err=err)
    for label in LABELS:
        click.echo(f"  {label:<20} {labels.get(label, 0):>8,}  (Safe Harbor {LABELS[label]})",
                   err=err)
