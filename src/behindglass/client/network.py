"""The researcher's view of a network: draft a study, submit it, wait, read results.

::

    net = connect("http://127.0.0.1:8700", token)
    study = net.study("Who has T2D?", cohorts={"t2d": Cohort.condition(201826)})
    study.add(Characterize("t2d", by=["sex", "age_band"]))
    result = study.run(timeout=300)
    result["Characterize"].to_pandas(level="site", table="sex")

On a signed network (docs/identity.md, "Signed messages") give ``connect`` your signing key
and the roster: every study you submit is signed, and every result is checked against each
site's key before you see it::

    roster = load_roster("researchers/alice/network.json", VerifyKey.load("hub.pub"))
    net = connect(url, token, signing_key=SigningKey.load("keys/signing.key"), roster=roster)

A study drafted with ``seal_results=True`` has every site encrypt its results to you, so
the hub relays only ciphertext; give ``connect`` your encryption key to open and combine
them here (``encryption_key=EncryptionKey.load("keys/encryption.key")``).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from behindglass.client.connection import HubConnection
from behindglass.client.progress import StudyProgress
from behindglass.client.results import StudyResult, open_results
from behindglass.core.cohort import Cohort, _first_error
from behindglass.core.errors import NetworkError, SignatureError, SpecError
from behindglass.core.messages import (
    SIGNATURE_HEADER,
    StudyResults,
    StudyStatus,
    attach,
    release_body,
    release_payload,
    study_payload,
    to_header,
)
from behindglass.core.sealing import EncryptionKey
from behindglass.core.signing import SigningKey, open_envelope, sign_envelope
from behindglass.core.study import AnalysisSpec, DataQualityRequirement, StudySpec
from behindglass.governance.identity import Roster

TERMINAL = ("released", "refused", "failed")
LONG_POLL = 10.0  # seconds per status long-poll; short enough to notice a dead hub


class StudyTimeoutError(NetworkError, TimeoutError):
    """A study did not complete within the time the researcher was willing to wait."""


class _Request(Protocol):
    def to_spec(self) -> AnalysisSpec: ...


class StudyHandle:
    """A submitted study, by id."""

    def __init__(self, network: Network, study_id: str) -> None:
        self.network = network
        self.study_id = study_id

    def status(self, wait: float = 0.0, after: dt.datetime | None = None) -> StudyStatus:
        """Per-site progress. With ``wait``, the hub holds the request until a task changes
        after ``after`` (or the study completes), at most ``wait`` seconds."""
        params: dict[str, Any] = {}
        if wait > 0:
            params["wait"] = round(wait, 3)
            if after is not None:
                params["after"] = after.isoformat()
        return StudyStatus.model_validate(
            self.network._conn.get(f"/studies/{self.study_id}", params=params,
                                   timeout=wait + 30.0))

    def results(self) -> StudyResult:
        """What the sites released so far, combined (call after :meth:`wait` for all).
        With a roster on the connection every release is first checked against its site's
        key: a release that is unsigned or altered raises :class:`SignatureError`. A sealed
        study's releases are then opened with the connection's encryption key and combined
        here (without the key: :class:`SignatureError`)."""
        data = self.network._conn.get(f"/studies/{self.study_id}/results")
        received = StudyResults.model_validate(data)
        if self.network.roster is not None:
            self.network.verify(received)  # the ciphertext, as the sites signed it
        return open_results(received, self.network.encryption_key)

    def wait(self, timeout: float = 600.0, progress: bool = True) -> StudyStatus:
        """Block until every site has released, refused or failed.

        Uses the hub's long-poll, so it returns as soon as the last site answers. Raises
        :class:`StudyTimeoutError` after ``timeout`` seconds, naming the sites still
        outstanding. ``progress`` shows per-site state on a terminal.
        """
        deadline = time.monotonic() + timeout
        status = self.status()
        with StudyProgress(enabled=progress) as view:
            while True:
                view.update(status)
                if status.state == "complete":
                    return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    waiting = [f"{t.site} ({t.state})" for t in status.tasks
                               if t.state not in TERMINAL]
                    raise StudyTimeoutError(
                        f"study {self.study_id} not complete after {timeout:g} s; "
                        f"still waiting for: {', '.join(waiting)}")
                latest = max((t.updated for t in status.tasks), default=None)
                status = self.status(wait=min(remaining, LONG_POLL), after=latest)

    def __repr__(self) -> str:
        return f"<StudyHandle {self.study_id}>"


class StudyDraft:
    """A study being put together; nothing is sent until :meth:`submit` or :meth:`run`."""

    def __init__(self, network: Network, title: str, cohorts: Mapping[str, Cohort],
                 sites: list[str] | None = None, description: str = "",
                 data_quality: DataQualityRequirement | Mapping[str, Any] | None = None,
                 seal_results: bool = False) -> None:
        if not cohorts:
            raise SpecError("a study needs at least one cohort: cohorts={'name': Cohort...}")
        self.network = network
        self.title = title
        self.description = description
        self.cohorts = dict(cohorts)
        self.sites = list(sites) if sites is not None else None
        self.data_quality = data_quality
        self.seal_results = seal_results
        self.analyses: list[AnalysisSpec] = []

    def add(self, request: AnalysisSpec | _Request) -> StudyDraft:
        """Add an analysis request (an AnalysisSpec, or a builder with ``to_spec()``)."""
        spec = request if isinstance(request, AnalysisSpec) else request.to_spec()
        if not isinstance(spec, AnalysisSpec):
            raise SpecError(f"add() takes an AnalysisSpec or a request builder, got "
                            f"{type(request).__name__}")
        if any(a.name == spec.name for a in self.analyses):
            raise SpecError(f"this study already has an analysis named {spec.name!r}; "
                            "give the request a different name=")
        for name in spec.cohort_names:
            if name not in self.cohorts:
                raise SpecError(f"{spec.name} refers to cohort {name!r}; this study's "
                                f"cohorts: {sorted(self.cohorts)}")
        self.analyses.append(spec)
        return self

    @property
    def spec(self) -> StudySpec:
        """The study as it will be sent."""
        if not self.analyses:
            raise SpecError(f"study {self.title!r} has no analyses yet; add one with .add()")
        try:
            return StudySpec(title=self.title, description=self.description,
                             cohorts=self.cohorts, analyses=tuple(self.analyses),
                             sites=tuple(self.sites) if self.sites is not None else None,
                             data_quality=self.data_quality,  # type: ignore[arg-type]
                             seal_results=self.seal_results)
        except ValidationError as exc:
            raise SpecError(f"study {self.title!r}: {_first_error(exc)}") from None

    def submit(self) -> StudyHandle:
        return self.network.submit(self.spec)

    def run(self, timeout: float = 600.0, progress: bool = True) -> StudyResult:
        """Submit, wait for every site, and return the results."""
        handle = self.submit()
        handle.wait(timeout=timeout, progress=progress)
        return handle.results()


class Network:
    """A researcher's connection to a hub. Use :func:`connect`."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 signing_key: SigningKey | None = None, name: str | None = None,
                 roster: Roster | None = None,
                 encryption_key: EncryptionKey | None = None) -> None:
        """``signing_key``: sign every study you submit (a signed hub refuses unsigned ones)
        as ``name``, your researcher name at the hub (found in ``roster`` by your key when
        not given). ``roster``: check every site's signature on the results you read.
        ``encryption_key``: open the results of studies that seal them to you."""
        self.roster = roster
        self.encryption_key = encryption_key
        self.signing_key = signing_key
        self.name = _signer_name(signing_key, name, roster)
        self._conn = HubConnection(url, token, timeout=timeout, transport=transport)
        self.url = self._conn.url

    def study(self, title: str, cohorts: Mapping[str, Cohort], sites: list[str] | None = None,
              description: str = "",
              data_quality: DataQualityRequirement | Mapping[str, Any] | None = None,
              seal_results: bool = False) -> StudyDraft:
        """A new study. ``data_quality={"min_pct_passed": 90}`` makes every site run its
        data-quality checks first and refuse the study below that percent passed.
        ``seal_results=True``: sites encrypt their results to you and the hub relays only
        ciphertext (needs a signed hub, no iterative analysis, and ``encryption_key``)."""
        return StudyDraft(self, title, cohorts, sites=sites, description=description,
                          data_quality=data_quality, seal_results=seal_results)

    def submit(self, spec: StudySpec | dict[str, Any]) -> StudyHandle:
        """Submit a whole study (a StudySpec, or its JSON as a dict)."""
        if not isinstance(spec, StudySpec):
            spec = StudySpec.from_dict(spec)
        headers = {}
        if self.signing_key is not None:  # a fresh nonce and time for every submission
            envelope = sign_envelope(study_payload(spec), self.signing_key,
                                     signer=self.name)  # type: ignore[arg-type]
            headers[SIGNATURE_HEADER] = to_header(envelope)
        status = StudyStatus.model_validate(
            self._conn.post("/studies", json=spec.to_dict(), headers=headers))
        return StudyHandle(self, status.study_id)

    def verify(self, result: StudyResult | StudyResults, roster: Roster | None = None
               ) -> None:
        """Check that every release in ``result`` carries its site's signature over exactly
        what it says; raise :class:`SignatureError` naming the first site whose does not.
        ``roster``: the network's (default: this connection's)."""
        roster = roster or self.roster
        if roster is None:
            raise SignatureError("no roster to check the sites' signatures against: pass "
                                 "roster= here or to connect()")
        # a sealed study's signatures cover the ciphertext the hub sent, not what was opened
        verify_releases(result.received if isinstance(result, StudyResult) else result, roster)

    def studies(self) -> list[StudyStatus]:
        """Your studies at this hub, oldest first."""
        return [StudyStatus.model_validate(s) for s in self._conn.get("/studies")]

    def get(self, study_id: str) -> StudyHandle:
        """A handle on one of your studies (checked to exist)."""
        handle = StudyHandle(self, study_id)
        handle.status()
        return handle

    def sites(self) -> list[str]:
        """Names of the sites registered at the hub."""
        return [s["name"] for s in self._conn.get("/sites")]

    def health(self) -> dict[str, Any]:
        return self._conn.get("/health")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Network {self.url}>"


def connect(url: str, token: str, *, timeout: float = 30.0,
            transport: httpx.BaseTransport | None = None,
            signing_key: SigningKey | None = None, name: str | None = None,
            roster: Roster | None = None,
            encryption_key: EncryptionKey | None = None) -> Network:
    """Connect to a hub as a researcher. Nothing is sent until the first call. On a signed
    network give ``signing_key`` (and ``roster`` or ``name``), and ``encryption_key`` to
    read sealed results; see :class:`Network`."""
    return Network(url, token, timeout=timeout, transport=transport,
                   signing_key=signing_key, name=name, roster=roster,
                   encryption_key=encryption_key)


def _signer_name(key: SigningKey | None, name: str | None, roster: Roster | None
                 ) -> str | None:
    """The researcher name studies are signed as; checked against the roster if given."""
    if key is None:
        return name
    if roster is None:
        if not name:
            raise SignatureError("signing studies needs your researcher name: pass name= "
                                 "(or roster=, where your key names you)")
        return name
    member = roster.by_key_id(key.key_id)
    if member.role != "researcher":
        raise SignatureError(f"signing key {key.key_id} is {member.role} {member.name!r}'s "
                             "in the roster, not a researcher's")
    if name and name != member.name:
        raise SignatureError(f"signing key {key.key_id} belongs to researcher "
                             f"{member.name!r} in the roster, not to {name!r}")
    return member.name


def verify_releases(results: StudyResults, roster: Roster) -> None:
    """Each release must be signed by the key the roster gives its site, over the SHA-256
    of its canonical bytes (what the site sent and the hub checked)."""
    for release in results.releases:
        what = f"the release of site {release.site!r} (task {release.task_id})"
        detached = results.release_signatures.get(release.task_id)
        if detached is None:
            raise SignatureError(f"{what} is unsigned: the hub holds no signature for it")
        try:
            member = roster.member(release.site, "site")
            if detached.get("key_id") != member.key_id or detached.get("signer") != member.name:
                raise SignatureError(f"signed by {detached.get('signer')!r} with key "
                                     f"{detached.get('key_id')!r}, not with the site's key "
                                     f"{member.key_id}")
            # no age limit and no nonce: a stored release is read again and again
            open_envelope(attach(detached, release_payload(release_body(release))),
                          {member.key_id: member.verify_key()}, max_age_seconds=math.inf,
                          seen=lambda _: False)
        except SignatureError as exc:
            raise SignatureError(f"{what} fails its signature check: {exc}") from None
