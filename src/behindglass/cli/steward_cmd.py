"""A steward's commands at the site: read what a study asks for, approve or reject it, and
pass or withhold outputs held for two-person review.

They are plain click commands registered in the ``behindglass site`` group
(:func:`register`). Each opens the site's approvals file (``HOME/approvals.sqlite``) next to
the running agent, which picks the decision up on its next poll; the file's own locking makes
that safe. A refused move (unknown id, a request already decided) is a one-line error with
exit code 1, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from behindglass.core.errors import BehindGlassError
from behindglass.governance.approvals import STORE_FILE, ApprovalStore, Request
from behindglass.governance.review import Output


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers: then --as is needed
        return None


def _home(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--home", required=True, envvar="BEHINDGLASS_SITE_HOME",
        type=click.Path(file_okay=False, path_type=Path),
        help="the site's home directory, which holds approvals.sqlite "
             "(or env BEHINDGLASS_SITE_HOME)")(f)


def _steward(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as", "steward", envvar="BEHINDGLASS_STEWARD", default=_os_user,
        show_default="the OS user",
        help="the steward deciding, as recorded in the audit (or env BEHINDGLASS_STEWARD)")(f)


def _json(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="print JSON")(f)


@contextmanager
def _store(home: Path) -> Iterator[ApprovalStore]:
    """The site's approvals store; workflow errors become one-line click errors."""
    path = home / STORE_FILE
    if not path.is_file():
        raise click.ClickException(f"{path} does not exist: is --home the site's home "
                                   f"directory? (the site agent creates it when it starts)")
    try:
        with ApprovalStore(path) as store:
            yield store
    except BehindGlassError as exc:
        raise click.ClickException(str(exc)) from None


def _who(steward: str | None) -> str:
    if not steward or not steward.strip():
        raise click.UsageError("give your name: --as NAME or env BEHINDGLASS_STEWARD")
    return steward.strip()


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _plain(obj: Any) -> Any:
    data = dataclasses.asdict(obj)
    return json.loads(json.dumps(data, default=lambda v: v.isoformat()))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                   .rstrip())


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


@click.command()
@_home
@click.option("--all", "show_all", is_flag=True, help="every request, not only pending ones")
@_json
def requests(home: Path, show_all: bool, as_json: bool) -> None:
    """List study requests waiting for a decision."""
    with _store(home) as store:
        found = store.list(None if show_all else ("pending",))
    if as_json:
        click.echo(json.dumps([_plain(r) for r in found], indent=2))
        return
    if not found:
        click.echo("no pending requests" + ("" if show_all else " (--all lists every request)"))
        return
    _table(("ID", "STATE", "RESEARCHER", "TITLE", "ANALYSES", "SUBMITTED"),
           [(r.study_id, r.state, r.researcher, _short(r.title),
             f"{len(r.analyses)}: {', '.join(r.kinds)}", _when(r.submitted)) for r in found])


@click.command()
@click.argument("item_id", metavar="ID")
@_home
@click.option("--body", "with_body", is_flag=True,
              help="for a held output: also print the release exactly as it would leave")
@_json
def show(item_id: str, home: Path, with_body: bool, as_json: bool) -> None:
    """Show a study request (ID st-…) or a held output (ID tk-…) in full."""
    with _store(home) as store:
        request = store.find(item_id)
        if request is not None:
            _show_request(request, store.task(item_id).study.to_dict(), as_json)
            return
        output = store.output(item_id)  # names the id in its error when there is none
        body = store.body(item_id)
    _show_output(output, body, as_json, with_body)


def _show_request(request: Request, study: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"request": _plain(request), "study": study}, indent=2))
        return
    click.echo(f"study {request.study_id}: {request.title}")
    click.echo(f"  state       {request.state}, submitted {_when(request.submitted)} UTC")
    click.echo(f"  researcher  {request.researcher}")
    click.echo(f"  digest      {request.study_digest}")
    if request.decided_by:
        rule = f" under rule {request.rule!r}" if request.rule else ""
        click.echo(f"  decided     {_when(request.decided)} UTC by {request.decided_by}{rule}")
    for label, text in (("reason", request.reason), ("note", request.note)):
        if text:
            click.echo(f"  {label:<11} {text}")
    if study.get("description"):
        click.echo(f"  about       {study['description']}")
    click.echo("cohorts")
    for name in study["cohorts"]:
        users = [a["name"] for a in study["analyses"]
                 if name in (a["cohort"], a.get("comparator"), *a.get("outcomes", ()))]
        click.echo(f"  {name}: {_cohort_line(study['cohorts'][name])}  "
                   f"(used by {', '.join(users) or 'no analysis'})")
    click.echo("analyses")
    for a in study["analyses"]:
        extra = "".join(f", {k} {a[k]}" for k in ("comparator", "outcomes") if a.get(k))
        click.echo(f"  {a['name']}: {a['kind']} on {a['cohort']}{extra}")
        for key, value in sorted(a.get("params", {}).items()):
            click.echo(f"      {key} = {json.dumps(value)}")
    if study.get("data_quality"):
        click.echo(f"data quality required: {json.dumps(study['data_quality'])}")


def _cohort_line(cohort: dict[str, Any]) -> str:
    """A cohort in one line: builder cohorts as their compact JSON; Circe ones by name."""
    if "circe" in cohort:
        name = cohort["circe"].get("Name") or cohort["circe"].get("name")
        return f"OHDSI Circe definition{f' {name!r}' if name else ''} (--json shows it)"
    if not cohort:
        return "every person"
    text = json.dumps(cohort, separators=(", ", ": "))
    return text if len(text) <= 120 else text[:119] + "… (--json shows it)"


def _show_output(output: Output, body: bytes, as_json: bool, with_body: bool) -> None:
    from behindglass.core.messages import Release

    if as_json:
        data = _plain(output)
        if with_body:
            data["body"] = json.loads(body)
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"output of task {output.task_id} (study {output.study_id})")
    click.echo(f"  state       {output.state}: {len(output.passed_by)} of {output.reviewers} "
               f"passes{_by(output.passed_by)}")
    if output.reason:
        click.echo(f"  reason      {output.reason}")
    click.echo(f"  kinds       {', '.join(output.kinds)}")
    click.echo(f"  digest      {output.digest}  ({output.size} bytes)")
    try:
        release = Release.model_validate_json(body)
    except ValueError:
        click.echo("  (the body is not a release; --body prints it)")
    else:
        click.echo("analyses")
        for agg in release.aggregates:
            click.echo(f"  {agg.analysis}: {agg.kind}")
            for table in agg.tables:
                hidden = sum(c.suppressed for c in table.cells)
                click.echo(f"      table {table.name}: by {', '.join(table.dims) or '-'}, "
                           f"{len(table.cells)} cells ({hidden} suppressed), {table.unit}")
            for block in agg.stats:
                shape = "x".join(map(str, block.shape)) or "scalar"
                click.echo(f"      stats {block.name}: shape {shape}")
        for refusal in release.refusals:
            click.echo(f"  {refusal.analysis}: refused ({refusal.reason})")
    if with_body:
        click.echo(json.dumps(json.loads(body), indent=2))


def _by(names: tuple[str, ...]) -> str:
    return f" (by {', '.join(names)})" if names else ""


@click.command()
@click.argument("study_id", metavar="ID")
@_home
@_steward
@click.option("--note", help="why, for the audit")
def approve(study_id: str, home: Path, steward: str | None, note: str | None) -> None:
    """Approve a pending study: the site agent runs it on its next poll."""
    with _store(home) as store:
        request = store.approve(study_id, _who(steward), note=note)
    click.echo(f"approved {request.study_id} ({request.title}) as {request.decided_by}")


@click.command()
@click.argument("study_id", metavar="ID")
@_home
@_steward
@click.option("--reason", required=True, help="why; the researcher is told")
def reject(study_id: str, home: Path, steward: str | None, reason: str) -> None:
    """Reject a pending study: it never runs at this site."""
    with _store(home) as store:
        request = store.reject(study_id, _who(steward), reason)
    click.echo(f"rejected {request.study_id} ({request.title}) as {request.decided_by}")


@click.command()
@_home
@click.option("--all", "show_all", is_flag=True, help="every output, not only held ones")
@_json
def outputs(home: Path, show_all: bool, as_json: bool) -> None:
    """List outputs held for two-person review before release."""
    with _store(home) as store:
        found = store.outputs(None if show_all else ("held",))
    if as_json:
        click.echo(json.dumps([_plain(o) for o in found], indent=2))
        return
    if not found:
        click.echo("no held outputs" + ("" if show_all else " (--all lists every output)"))
        return
    _table(("ID", "STUDY", "STATE", "KINDS", "PASSES", "HELD"),
           [(o.task_id, o.study_id, o.state, ", ".join(o.kinds),
             f"{len(o.passed_by)}/{o.reviewers}", _when(o.held)) for o in found])


@click.command("pass")
@click.argument("task_id", metavar="ID")
@_home
@_steward
def pass_(task_id: str, home: Path, steward: str | None) -> None:
    """Pass a held output; it leaves once enough different stewards passed it."""
    with _store(home) as store:
        output = store.review(task_id, _who(steward), passed=True)
    if output.state == "passed":
        click.echo(f"passed {task_id}: {len(output.passed_by)} of {output.reviewers} passes"
                   f"{_by(output.passed_by)}; the agent sends it on its next poll")
    else:
        more = output.reviewers - len(output.passed_by)
        click.echo(f"passed {task_id}: {len(output.passed_by)} of {output.reviewers} passes; "
                   f"{more} more from another steward needed")


@click.command()
@click.argument("task_id", metavar="ID")
@_home
@_steward
@click.option("--reason", required=True, help="why; recorded in the audit")
def withhold(task_id: str, home: Path, steward: str | None, reason: str) -> None:
    """Withhold a held output: it never leaves the site."""
    with _store(home) as store:
        store.review(task_id, _who(steward), passed=False, reason=reason)
    click.echo(f"withheld {task_id}")


COMMANDS: tuple[click.Command, ...] = (requests, show, approve, reject, outputs, pass_,
                                       withhold)


def register(group: click.Group) -> None:
    """Add the steward's commands to ``behindglass site``."""
    for command in COMMANDS:
        group.add_command(command)
