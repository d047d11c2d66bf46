"""What a site tells a signed hub besides its releases is signed too: the audit chain heads
it publishes (the hub keeps each signature, so a head is provably the site's word, not the
hub's) and the states of its tasks (awaiting approval, awaiting review, running). Unsigned,
wrongly signed, altered and replayed ones are refused, each with its reason."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from behindglass.core.errors import SignatureError
from behindglass.core.messages import (
    REFUSAL_HEADER,
    AuditHead,
    TaskUpdate,
    attach,
    from_header,
    head_payload,
    update_payload,
)
from behindglass.core.signing import open_envelope
from behindglass.site import SiteAgent
from behindglass.site.home import SiteHome
from behindglass.site.policy_file import policy_template
from behindglass.site.signatures import sign_payload
from tests.unit.test_signed_messages import API, SignedHub, claim, hub, ids, submit
from tests.unit.test_site_agent import FakeLink, build_site, make_task

__all__ = ["hub", "ids"]  # fixtures

HEAD = AuditHead(seq=4, head="ab" * 32)


def post_head(hub: SignedHub, head: AuditHead, signature: str | None, who: str = "site-a"
              ) -> Any:
    return hub.client.post(f"{API}/audit/head", json=head.model_dump(),
                           headers=hub.headers(who, signature))


def head_signature(hub: SignedHub, head: AuditHead, key: str = "site-a",
                   site: str = "site-a") -> str:
    return sign_payload(head_payload(site, head), hub.ids["keys"][key], site)


def test_a_signed_hub_keeps_each_sites_signature_over_its_head(hub: SignedHub) -> None:
    unsigned = post_head(hub, HEAD, None)
    assert unsigned.status_code == 401 and "unsigned" in unsigned.json()["detail"]
    assert unsigned.headers[REFUSAL_HEADER] == "signature"  # not the token: the site goes on
    other = post_head(hub, HEAD, head_signature(hub, HEAD, key="site-b"))
    assert other.status_code == 401 and "site 'site-b'" in other.json()["detail"]
    altered = post_head(hub, HEAD, head_signature(hub, HEAD.model_copy(update={"seq": 5})))
    assert altered.status_code == 401
    signature = head_signature(hub, HEAD)
    assert post_head(hub, HEAD, signature).status_code == 204
    replayed = post_head(hub, HEAD, signature)
    assert replayed.status_code == 409 and "replayed" in replayed.json()["detail"]

    admin = hub.app.state.hub.add_principal("root", "admin")
    listed = hub.client.get(f"{API}/sites/site-a/audit-heads",
                            headers={"Authorization": f"Bearer {admin}"}).json()
    (kept,) = listed
    # anyone with the roster can check the hub's copy is the site's word
    key = hub.ids["roster"].member("site-a", "site")
    envelope = attach(kept["signature"], head_payload("site-a", AuditHead(
        seq=kept["seq"], head=kept["head"])))
    open_envelope(envelope, {key.key_id: key.verify_key()}, max_age_seconds=math.inf,
                  seen=lambda _: False)
    forged = attach(kept["signature"], head_payload("site-a", AuditHead(seq=4, head="cd" * 32)))
    with pytest.raises(SignatureError):
        open_envelope(forged, {key.key_id: key.verify_key()}, max_age_seconds=math.inf,
                      seen=lambda _: False)


def post_state(hub: SignedHub, task_id: str, update: TaskUpdate, signature: str | None,
               who: str = "site-a") -> Any:
    return hub.client.post(f"{API}/tasks/{task_id}/state", json=update.model_dump(),
                           headers=hub.headers(who, signature))


def test_a_task_state_is_the_sites_signed_word(hub: SignedHub) -> None:
    assert submit(hub).status_code == 201
    task = claim(hub)
    waiting = TaskUpdate(state="awaiting_approval", detail="waiting for the steward")

    def signed(update: TaskUpdate, key: str = "site-a", task_id: str = task.task_id) -> str:
        return sign_payload(update_payload(task_id, update), hub.ids["keys"][key], "site-a")

    assert post_state(hub, task.task_id, waiting, None).status_code == 401
    running = TaskUpdate(state="running", detail="approved")
    assert post_state(hub, task.task_id, waiting, signed(running)).status_code == 401
    assert post_state(hub, task.task_id, waiting, signed(waiting, "site-b")).status_code == 401
    signature = signed(waiting)
    assert post_state(hub, task.task_id, waiting, signature).status_code == 204
    again = post_state(hub, task.task_id, waiting, signature)
    assert again.status_code == 409 and "replayed" in again.json()["detail"]
    # another site's task looks missing, whatever the signature: no refusal that tells
    theirs = post_state(hub, task.task_id, running, signed(running), who="site-b")
    assert theirs.status_code == 404 and REFUSAL_HEADER not in theirs.headers


def test_an_agent_with_a_key_signs_its_heads_and_task_states(ids: dict[str, Any],
                                                              tmp_path: Path) -> None:
    home = SiteHome.init(tmp_path / "home", policy_template())
    shutil.copy2(ids["out"] / "sites" / "site-a" / "keys" / "signing.key",
                 home.signing_key_path)
    link = FakeLink()
    agent = SiteAgent(hub_url=link.hub_url, name="site-a", token="t",
                      db_path=build_site(tmp_path / "site.duckdb"), home=home.root,
                      link=link)  # type: ignore[arg-type]
    assert agent.handle(make_task()) is None  # waits for the steward: a signed state
    agent._publish_head()
    agent.close()
    key = ids["roster"].member("site-a", "site")
    (task_id, state), (seq, head) = link.updates[0], link.heads[0]
    payloads = [update_payload(task_id, TaskUpdate(
                    state=state, detail="waiting for the approval of site site-a's steward")),
                head_payload("site-a", AuditHead(seq=seq, head=head))]
    for signature, payload in zip(link.signatures, payloads, strict=True):
        envelope = attach(from_header(signature), payload)
        open_envelope(envelope, {key.key_id: key.verify_key()}, max_age_seconds=60,
                      seen=lambda _: False)
