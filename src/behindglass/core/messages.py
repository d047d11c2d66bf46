"""Messages between researcher, hub and site. The hub and the site share only these."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.study import StudySpec

TaskState = Literal["pending", "running", "released", "refused", "failed"]
StudyState = Literal["running", "complete"]


class Task(BaseModel):
    """The work a hub hands one site for one study.

    Round 0 runs every analysis of the study. An iterative analysis (a model fitted by
    Newton steps) needs more rounds: each later task names the analyses still being fitted
    (``analyses``) and carries, per analysis, the state the hub computed from the previous
    round (``states``, e.g. the current coefficients).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    study_id: str
    site: str
    researcher: str
    study: StudySpec
    created: dt.datetime
    round: int = Field(default=0, ge=0)
    analyses: tuple[str, ...] | None = Field(
        default=None, description="names of the analyses to run this round; None: all")
    states: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Refusal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    analysis: str
    reason: str


class Release(BaseModel):
    """What a site posts back: released aggregates and, per analysis, any refusal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    site: str
    round: int = Field(default=0, ge=0, description="the task's round (iterative analyses)")
    aggregates: tuple[SiteAggregate, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    error: str | None = None
    audit_head: str | None = Field(default=None, description="site audit chain hash at release")


class TaskStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    site: str
    state: TaskState
    updated: dt.datetime
    round: int = 0
    detail: str | None = None
    release_digest: str | None = Field(
        default=None, description="sha256 of the release body as the hub received it; equals "
                                  "the digest in the site's audit log")


class StudyStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    study_id: str
    title: str
    researcher: str
    state: StudyState
    created: dt.datetime
    tasks: tuple[TaskStatus, ...]


class StudyResults(BaseModel):
    """Per-site releases plus the hub's combination of each analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_id: str
    title: str
    state: StudyState
    study: StudySpec
    releases: tuple[Release, ...]
    combined: dict[str, dict[str, Any]]
