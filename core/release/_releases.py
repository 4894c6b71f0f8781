"""Release candidates: create, gate, approve or reject, check before deploy, record rollouts.

A candidate is a model version built into a release folder
``WORKSPACE/releases/<release_id>/`` — the same folder a deploy of that version uses, so
the manifest reviewers sign is exactly what goes to the hosts. Reviewers sign the sha256
of that ``manifest.json`` with their SSH key (:mod:`modeldeck.core.release.signing`); an
approval counts only while its signature verifies against the manifest on disk and the
public key registered for the reviewer, so a changed manifest or a claimed name does not
pass :meth:`Releases.check_deployable`.

Every change is one audited workspace transaction (subject ``release-<id>``) that also
appends to the candidate's timeline.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modeldeck.core.errors import (
    AlreadyExistsError,
    InvalidInputError,
    ModelDeckError,
    NotFoundError,
    PermissionDeniedError,
    ReleaseError,
)
from modeldeck.core.progress import CancelToken, Operation, ProgressEvent, scaled
from modeldeck.core.registry import MetricDelta, Registry, VersionInfo
from modeldeck.core.release import signing
from modeldeck.core.release.gates import GateContext, run_gates
from modeldeck.core.release.policy import GatePolicy, load_policy
from modeldeck.core.release.types import (
    OPEN_STATUSES,
    Approval,
    Candidate,
    CandidateComparison,
    DriftLine,
    GateResult,
    TimelineEvent,
)
from modeldeck.core.runtime import release as rel
from modeldeck.core.schema import SchemaDiff, diff_schema
from modeldeck.core.workspace import Identity, Mutation, Workspace
from modeldeck.core.workspace._clock import utc_now

RELEASES_FOLDER = "releases"
#: Roles whose approvals count (the ``approve`` permission).
REVIEW_ROLES = ("reviewer", "admin")
#: Statuses from which a release may be deployed (again).
DEPLOYABLE = ("approved", "deployed", "rolled-back")


class NotDeployableError(ReleaseError):
    """A release is not approved, or its approvals no longer verify."""


_CANDIDATE_SQL = """
SELECT c.*, m.name AS model, v.version AS version, p.version AS production_number
FROM release_candidates c
JOIN models m ON m.id = c.model_id
JOIN versions v ON v.id = c.version_id
LEFT JOIN versions p ON p.id = c.production_version_id
"""


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class Releases:
    """Release candidates of one workspace.

    Parameters
    ----------
    workspace
        The open workspace; its acting user creates, approves, ... candidates.
    registry
        The workspace's registry (built when not given).
    """

    def __init__(self, workspace: Workspace, registry: Registry | None = None) -> None:
        self.ws = workspace
        self.registry = registry or Registry(workspace)

    # -- reading --------------------------------------------------------------------------

    def get(self, candidate_id: int) -> Candidate:
        """The candidate ``candidate_id``, its gates and its (re-verified) approvals.

        Raises
        ------
        NotFoundError
            No such candidate.
        """
        row = self._row(candidate_id)
        return self._candidate(row)

    def list(self, model: str | None = None,
             status: str | None = None) -> builtins.list[Candidate]:
        """Candidates, newest first; only those of ``model`` and/or in ``status`` if given."""
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if model is not None:
            self.registry.get_model(model)  # NotFoundError naming the model
            where.append("m.name = ?")
            params.append(model)
        if status is not None:
            where.append("c.status = ?")
            params.append(status)
        sql = _CANDIDATE_SQL + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.ws.db.query(sql + " ORDER BY c.id DESC", params)
        return [self._candidate(row) for row in rows]

    def timeline(self, candidate_id: int) -> builtins.list[TimelineEvent]:
        """What happened to the candidate, oldest first."""
        self._row(candidate_id)
        return [TimelineEvent(r["at"], r["actor"], r["action"], r["detail"])
                for r in self.ws.db.query(
                    "SELECT at, actor, action, detail FROM release_events "
                    "WHERE candidate_id = ? ORDER BY id", [candidate_id])]

    def release_dir(self, candidate: Candidate) -> Path:
        """The candidate's release folder ``WORKSPACE/releases/<release_id>``."""
        return self.ws.path / RELEASES_FOLDER / candidate.release_id

    def policy(self, model: str) -> GatePolicy:
        """The model's gate policy now (``WORKSPACE/policies/<model>.toml`` or defaults)."""
        return load_policy(self.ws, model)

    def compare_to_production(self, candidate_id: int) -> CandidateComparison:
        """The candidate next to the production version it was gated against: metrics
        (both scored on the candidate's holdout when the gates ran), schema diff, and the
        drift of the candidate's holdout against production's reference data."""
        row = self._row(candidate_id)
        cand = self._candidate(row, verify=False)
        stored = json.loads(row["comparison"] or "{}")
        production = stored.get("production") or cand.production
        schema = SchemaDiff()
        if production is not None:
            schema = diff_schema(self.registry.get_version(production).schema,
                                 self.registry.get_version(cand.ref).schema)
        metrics = tuple(MetricDelta(name, pair[0], pair[1])
                        for name, pair in stored.get("metrics", {}).items())
        drift = tuple(DriftLine(d["name"], d["status"], d["effect_size"], d["threshold"],
                                bool(d["flagged"])) for d in stored.get("drift", []))
        summary = stored.get("drift_summary") or (
            "Not compared: no other version in production." if production in (None, cand.ref)
            else "Not compared (see the drift gate).")
        return CandidateComparison(cand.ref, production, metrics, schema, drift, summary)

    def signatures_for(self, candidate_id: int) -> dict[str, str]:
        """Reviewer → armored SSH signature, for the approvals that verify now."""
        cand = self.get(candidate_id)
        return {a.reviewer: a.signature for a in cand.approvals
                if a.decision == "approve" and a.verified and a.signature}

    def can_review(self, candidate_id: int) -> tuple[bool, str]:
        """Whether the acting user may approve the candidate now, and if not why not
        (one sentence, e.g. for a disabled button's tooltip)."""
        problem = self._review_problem(self.get(candidate_id), self.ws.identity, "approve")
        return (problem is None, "" if problem is None else problem.message)

    # -- creating and gating --------------------------------------------------------------

    def create(self, ref: str, cancel: CancelToken | None = None) -> Operation[Candidate]:
        """Make version ``ref`` a release candidate and run its gates (an operation).

        Builds (or reuses) the release folder ``WORKSPACE/releases/<release_id>/``, runs
        the gates of the model's policy, and records the candidate with its results in one
        audited transaction: cancelled or failed, nothing is recorded.

        Raises
        ------
        AlreadyExistsError
            The version already has an open candidate (the fix names it).
        PermissionDeniedError
            The acting user may not create releases (data scientists and admins may).
        """
        cancel = cancel or CancelToken()
        who = self.ws.require("release")
        info = self.registry.get_version(ref)
        self._refuse_duplicate(info)
        policy = self.policy(info.model)
        yield ProgressEvent("building", 0.02, f"building the release folder of {info.ref}")
        folder = self._build_folder(info)
        cancel.check()
        production = self._production(info.model)
        ctx = GateContext(self.registry, info, production, folder, policy, cancel)
        results = yield from scaled(run_gates(ctx), 0.15, 0.95)
        manifest_sha = self._manifest_sha(folder)
        with self.ws.mutate("release.create", info.ref, "release") as change:
            now = utc_now()
            cursor = change.db.conn.execute(
                "INSERT INTO release_candidates (model_id, version_id, author, created_by, "
                "created_at, status, release_id, manifest_sha256, required_approvals) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (self._model_id(info.model), self._version_id(info), info.author, who.name,
                 now, "gating", folder.name, manifest_sha, policy.required_approvals))
            candidate_id = int(cursor.lastrowid or 0)
            change.subject = f"release-{candidate_id}"
            self._event(change, candidate_id, "created",
                        f"{info.ref} as release {folder.name} (manifest sha256 "
                        f"{manifest_sha[:12]}…)", now)
            self._record_gates(change, candidate_id, ctx, results, approvals=0)
            change.payload.update(ref=info.ref, release_id=folder.name,
                                  manifest_sha256=manifest_sha)
        yield ProgressEvent("recorded", 1.0, f"candidate {candidate_id}: {info.ref}")
        return self.get(candidate_id)

    def run_gates(self, candidate_id: int,
                  cancel: CancelToken | None = None) -> Operation[Candidate]:
        """Run the candidate's gates again (after a policy or model card change).

        Only before a decision: a candidate that is approved, rejected or deployed keeps
        the gate results it was decided on. A missing release folder is rebuilt (existing
        approvals then no longer verify).
        """
        cancel = cancel or CancelToken()
        self.ws.require("release")
        cand = self.get(candidate_id)
        if cand.status not in ("gating", "gates-failed", "awaiting-approval"):
            raise InvalidInputError(
                f"candidate {cand.id} ({cand.ref}) is {cand.status}; its gates are final",
                f"open a new candidate with `modeldeck release create {cand.ref}`"
                if cand.status not in OPEN_STATUSES else
                "gates run again only before the candidate is approved")
        info = self.registry.get_version(cand.ref)
        policy = self.policy(info.model)
        folder = self.release_dir(cand)
        if not (folder / rel.MANIFEST).is_file():
            yield ProgressEvent("building", 0.02, "rebuilding the missing release folder")
            folder = self._build_folder(info)
        production = self._production(info.model)
        ctx = GateContext(self.registry, info, production, folder, policy, cancel)
        results = yield from scaled(run_gates(ctx), 0.05, 0.95)
        manifest_sha = self._manifest_sha(folder)
        with self.ws.mutate("release.gates", f"release-{cand.id}", "release") as change:
            change.db.conn.execute(
                "UPDATE release_candidates SET release_id=?, manifest_sha256=?, "
                "required_approvals=? WHERE id=?",
                (folder.name, manifest_sha, policy.required_approvals, cand.id))
            if manifest_sha != cand.manifest_sha256:
                self._event(change, cand.id, "rebuilt",
                            f"release {folder.name} rebuilt (manifest sha256 "
                            f"{manifest_sha[:12]}…); earlier signatures no longer apply")
            self._record_gates(change, cand.id, ctx, results,
                               approvals=cand.valid_approvals
                               if manifest_sha == cand.manifest_sha256 else 0)
        yield ProgressEvent("recorded", 1.0, f"candidate {cand.id}: gates run")
        return self.get(cand.id)

    def _record_gates(self, change: Mutation, candidate_id: int, ctx: GateContext,
                      results: builtins.list[GateResult], approvals: int) -> None:
        """Replace the gate rows, set the status they lead to, log the run."""
        conn = change.db.conn
        now = utc_now()
        conn.execute("DELETE FROM release_gates WHERE candidate_id = ?", (candidate_id,))
        for position, gate in enumerate(results):
            conn.execute(
                "INSERT INTO release_gates (candidate_id, position, name, passed, skipped, "
                "value, threshold, detail, run_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (candidate_id, position, gate.name, int(gate.passed), int(gate.skipped),
                 _json(gate.value), _json(gate.threshold), gate.detail, now))
        failed = [g.name for g in results if not g.passed]
        if failed:
            status = "gates-failed"
        else:
            status = ("approved" if approvals >= ctx.policy.required_approvals
                      else "awaiting-approval")
        conn.execute(
            "UPDATE release_candidates SET status=?, production_version_id=?, policy=?, "
            "comparison=? WHERE id=?",
            (status, self._version_id(ctx.production) if ctx.production else None,
             _json(ctx.policy.to_dict()), _json(ctx.comparison), candidate_id))
        passed = len(results) - len(failed)
        self._event(change, candidate_id, "gates",
                    f"{passed}/{len(results)} gates passed"
                    + (f"; failed: {', '.join(failed)}" if failed else "")
                    + (f"; compared with production {ctx.production.ref}"
                       if ctx.compares and ctx.production else ""), now)
        change.payload.update(
            status=status, policy_sha256=ctx.policy.digest(), policy_file=ctx.policy.source,
            gates={g.name: {"passed": g.passed, "skipped": g.skipped, "value": g.value,
                            "threshold": g.threshold} for g in results})

    # -- reviewing ------------------------------------------------------------------------

    def approve(self, candidate_id: int, comment: str = "",
                key: str | os.PathLike[str] | None = None) -> Candidate:
        """Approve the candidate as the acting reviewer, signing its manifest.

        Parameters
        ----------
        comment
            Why (optional for an approval).
        key
            The reviewer's private key file; ``None`` signs with ``ssh-agent``, using the
            key registered for the reviewer.

        Raises
        ------
        PermissionDeniedError
            Not a reviewer or admin, the author of the version or of the candidate, or no
            public key registered.
        InvalidInputError
            The candidate is not awaiting approval, or the reviewer decided already.
        ReleaseError
            The manifest changed since the gates ran, or the signature does not verify
            with the registered key (signed with another key): nothing is recorded.
        """
        who = self.ws.require("approve")
        cand = self.get(candidate_id)
        problem = self._review_problem(cand, who, "approve")
        if problem is not None:
            raise problem
        public_key = self.ws.get_user(who.name).ssh_public_key or ""
        message = self._message(cand)
        signature = signing.sign(message, key, public_key=public_key)
        if not signing.verify(message, signature, who.name, public_key):
            raise ReleaseError(
                f"that signature was made with a key other than the one registered for "
                f"'{who.name}'", "sign with your registered key (--key PRIVATE_KEY, or load it "
                "into ssh-agent), or ask an admin to register your key with `modeldeck users "
                f"set-key {who.name} PUBKEY_FILE`")
        valid = cand.valid_approvals + 1
        with self.ws.mutate("release.approve", f"release-{cand.id}", "approve") as change:
            self._check_unchanged(change, cand)
            self._insert_decision(change, cand, who.name, "approve", comment, signature)
            if valid >= cand.required_approvals:
                change.db.conn.execute("UPDATE release_candidates SET status='approved' "
                                       "WHERE id=?", (cand.id,))
                self._event(change, cand.id, "release approved",
                            f"{valid} of {cand.required_approvals} required approval(s) "
                            "with valid signatures")
            change.payload.update(approvals=valid, required=cand.required_approvals)
        return self.get(cand.id)

    def reject(self, candidate_id: int, comment: str = "",
               key: str | os.PathLike[str] | None = None) -> Candidate:
        """Reject the candidate as the acting reviewer (a comment saying why is required).

        The rejection is signed like an approval when the reviewer has a registered key and
        a key to sign with (``key``, or ssh-agent); without, it is recorded unsigned.
        Any reviewer may reject until the release is deployed.
        """
        who = self.ws.require("approve")
        if not comment.strip():
            raise InvalidInputError("a rejection needs a comment saying why",
                                    "pass --comment 'what must change'")
        cand = self.get(candidate_id)
        problem = self._review_problem(cand, who, "reject")
        if problem is not None:
            raise problem
        public_key = self.ws.get_user(who.name).ssh_public_key
        signature = None
        if public_key:
            try:
                signature = signing.sign(self._message(cand), key, public_key=public_key)
            except signing.SigningError:
                if key is not None:
                    raise
        with self.ws.mutate("release.reject", f"release-{cand.id}", "approve") as change:
            self._check_unchanged(change, cand)
            self._insert_decision(change, cand, who.name, "reject", comment, signature)
            change.db.conn.execute("UPDATE release_candidates SET status='rejected' "
                                   "WHERE id=?", (cand.id,))
        return self.get(cand.id)

    def _review_problem(self, cand: Candidate, who: Identity,
                        decision: str) -> ModelDeckError | None:
        """Why ``who`` may not approve (or reject) ``cand`` now, or ``None``."""
        if who.role not in REVIEW_ROLES:
            role = f"role '{who.role}'" if who.role else "no role (not registered)"
            return PermissionDeniedError(
                f"'{who.name}' has {role}; only reviewers and admins approve or reject "
                "releases", "ask a reviewer, or an admin to give you the reviewer role")
        if who.name in (cand.author, cand.created_by):
            what = "registered" if who.name == cand.author else "opened the candidate for"
            return PermissionDeniedError(
                f"you ({who.name}) {what} {cand.ref}, so you may not review it (four eyes)",
                "ask another reviewer to approve or reject it")
        earlier = [a for a in cand.approvals if a.reviewer == who.name]
        if earlier:
            return InvalidInputError(
                f"you ({who.name}) already {earlier[-1].decision}d candidate {cand.id} "
                f"on {earlier[-1].at[:16].replace('T', ' ')}",
                "each reviewer decides once; another reviewer may add theirs")
        allowed = ("awaiting-approval",) if decision == "approve" else OPEN_STATUSES
        if cand.status not in allowed:
            fix = {"gates-failed": f"fix what failed, then `modeldeck release gates {cand.id}`",
                   "approved": "it needs no more approvals"}.get(
                cand.status, f"open a new candidate with `modeldeck release create {cand.ref}`")
            return InvalidInputError(f"candidate {cand.id} ({cand.ref}) is {cand.status}, "
                                     f"so it cannot be {decision}d now", fix)
        if decision == "approve" and not self.ws.get_user(who.name).ssh_public_key:
            return PermissionDeniedError(
                f"no SSH public key is registered for '{who.name}', so an approval could not "
                "be verified", f"ask an admin: `modeldeck users set-key {who.name} "
                "~/.ssh/id_ed25519.pub`")
        return None

    def _insert_decision(self, change: Mutation, cand: Candidate, reviewer: str,
                         decision: str, comment: str, signature: str | None) -> None:
        now = utc_now()
        change.db.conn.execute(
            "INSERT INTO release_approvals (candidate_id, reviewer, decision, comment, at, "
            "manifest_sha256, signature) VALUES (?,?,?,?,?,?,?)",
            (cand.id, reviewer, decision, comment.strip(), now, cand.manifest_sha256, signature))
        said = "approved" if decision == "approve" else "rejected"
        signed = "signed" if signature else "unsigned"
        self._event(change, cand.id, said, f"{signed}" + (f": {comment.strip()}"
                                                          if comment.strip() else ""), now)
        change.payload.update(reviewer=reviewer, decision=decision, comment=comment.strip(),
                              manifest_sha256=cand.manifest_sha256, signature=signature)

    def _check_unchanged(self, change: Mutation, cand: Candidate) -> None:
        """Refuse when another writer changed the candidate's status meanwhile."""
        row = change.db.conn.execute("SELECT status FROM release_candidates WHERE id=?",
                                     (cand.id,)).fetchone()
        if row[0] != cand.status:
            raise InvalidInputError(f"candidate {cand.id} became {row[0]} meanwhile",
                                    f"look at it again: `modeldeck release show {cand.id}`")

    # -- deploying ------------------------------------------------------------------------

    def find(self, candidate_or_release: int | str) -> Candidate:
        """A candidate by number (``3``, ``"3"``) or by release id (its newest candidate)."""
        if isinstance(candidate_or_release, int) or str(candidate_or_release).isdigit():
            return self.get(int(candidate_or_release))
        row = self.ws.db.conn.execute(
            "SELECT id FROM release_candidates WHERE release_id = ? ORDER BY id DESC LIMIT 1",
            (str(candidate_or_release),)).fetchone()
        if row is None:
            raise NotDeployableError(
                f"release {candidate_or_release} was never a release candidate, so nobody "
                "approved it", "open one with `modeldeck release create MODEL:VERSION` and "
                "have a reviewer approve it")
        return self.get(int(row[0]))

    def check_deployable(self, candidate_or_release: int | str) -> Candidate:
        """Return the candidate if its release may be deployed, else raise.

        Deployable means: approved (or deployed before), every file of the release folder
        matching a manifest whose sha256 is the one approved, and at least the required
        number of approvals from reviewers other than the author whose signatures verify
        against that manifest and the keys registered for them now.

        Raises
        ------
        NotDeployableError
            Which condition fails, with the fix.
        """
        cand = self.find(candidate_or_release)
        where = f"release {cand.release_id} (candidate {cand.id}, {cand.ref})"
        if cand.status not in DEPLOYABLE:
            raise NotDeployableError(
                f"{where} is {cand.status}, not approved ({cand.valid_approvals} of "
                f"{cand.required_approvals} approvals)",
                f"a reviewer approves it with `modeldeck release approve {cand.id}`"
                if cand.status == "awaiting-approval" else
                f"see why with `modeldeck release show {cand.id}`")
        folder = self.release_dir(cand)
        if not (folder / rel.MANIFEST).is_file():
            raise NotDeployableError(f"the release folder of {where} is missing ({folder})",
                                     f"open a new candidate: `modeldeck release create "
                                     f"{cand.ref}`")
        on_disk = self._manifest_sha(folder)
        if on_disk != cand.manifest_sha256:
            raise NotDeployableError(
                f"manifest.json of {where} changed after it was approved (sha256 "
                f"{on_disk[:12]}… on disk, {cand.manifest_sha256[:12]}… approved): the "
                "approval signatures do not verify", f"open a new candidate with `modeldeck "
                f"release create {cand.ref}` and have it approved")
        problems = rel.verify_files(folder, rel.read_manifest(folder))
        if problems:
            raise NotDeployableError(f"the release folder of {where} was altered: "
                                     + "; ".join(problems[:3]),
                                     f"open a new candidate: `modeldeck release create "
                                     f"{cand.ref}`")
        if cand.valid_approvals < cand.required_approvals:
            bad = [a.reviewer for a in cand.approvals if a.decision == "approve"
                   and not a.verified]
            raise NotDeployableError(
                f"{where} has {cand.valid_approvals} of {cand.required_approvals} approvals "
                "with a signature that verifies against its manifest and the reviewer's "
                "registered key" + (f" (not verifying: {', '.join(bad)})" if bad else ""),
                f"open a new candidate with `modeldeck release create {cand.ref}` and have "
                "a reviewer approve it with their registered key")
        return cand

    def record_deployed(self, candidate_id: int, hosts: Iterable[str]) -> Candidate:
        """Record that the candidate's release now runs on ``hosts``; move ``production``.

        The ``production`` alias moves to the candidate's version (its own audited step);
        the version it replaced is kept for :meth:`record_rolled_back`.
        """
        self.ws.require("deploy")
        cand = self.check_deployable(candidate_id)
        names = sorted(set(hosts))
        previous = self._production(cand.model)
        moved = previous is None or previous.ref != cand.ref
        if moved:
            self.registry.set_alias(cand.ref, "production")
        with self.ws.mutate("release.deployed", f"release-{cand.id}", "deploy") as change:
            conn = change.db.conn
            conn.execute("UPDATE release_candidates SET status='deployed' WHERE id=?",
                         (cand.id,))
            if moved:
                conn.execute("UPDATE release_candidates SET replaced_version_id=? WHERE id=?",
                             (self._version_id(previous) if previous else None, cand.id))
            alias = (f"production {previous.version if previous else 'unset'} → "
                     f"{cand.version}" if moved else f"production stays {cand.version}")
            self._event(change, cand.id, "deployed",
                        f"to {', '.join(names) or 'no host named'}; {alias}")
            change.payload.update(hosts=names, release_id=cand.release_id,
                                  production=cand.version,
                                  replaced=previous.version if moved and previous else None)
        return self.get(cand.id)

    def record_rolled_back(self, candidate_id: int, hosts: Iterable[str]) -> Candidate:
        """Record that ``hosts`` went back from the candidate's release; move
        ``production`` back to the version the candidate replaced (or remove it)."""
        self.ws.require("deploy")
        cand = self.get(candidate_id)
        if cand.status != "deployed":
            raise InvalidInputError(f"candidate {cand.id} ({cand.ref}) is {cand.status}, not "
                                    "deployed, so there is nothing to roll back",
                                    "see `modeldeck release list`")
        names = sorted(set(hosts))
        row = self.ws.db.conn.execute(
            "SELECT v.version FROM release_candidates c JOIN versions v "
            "ON v.id = c.replaced_version_id WHERE c.id = ?", (cand.id,)).fetchone()
        current = self._production(cand.model)
        alias = "production unchanged"
        if current is not None and current.ref == cand.ref:
            if row is not None:
                self.registry.set_alias(f"{cand.model}:{row[0]}", "production")
                alias = f"production {cand.version} → {row[0]}"
            else:
                self.registry.remove_alias(cand.model, "production")
                alias = f"production {cand.version} → unset"
        with self.ws.mutate("release.rolled-back", f"release-{cand.id}", "deploy") as change:
            change.db.conn.execute("UPDATE release_candidates SET status='rolled-back' "
                                   "WHERE id=?", (cand.id,))
            self._event(change, cand.id, "rolled back",
                        f"on {', '.join(names) or 'no host named'}; {alias}")
            change.payload.update(hosts=names, release_id=cand.release_id, alias=alias)
        return self.get(cand.id)

    # -- internals ------------------------------------------------------------------------

    def _row(self, candidate_id: int) -> dict[str, Any]:
        for row in self.ws.db.query(_CANDIDATE_SQL + " WHERE c.id = ?", [int(candidate_id)]):
            return row
        raise NotFoundError(f"no release candidate {candidate_id}",
                            "list them with `modeldeck release list`")

    def _candidate(self, row: dict[str, Any], verify: bool = True) -> Candidate:
        cid = int(row["id"])
        gates = tuple(
            GateResult(g["name"], bool(g["passed"]), json.loads(g["value"]),
                       json.loads(g["threshold"]), g["detail"], bool(g["skipped"]))
            for g in self.ws.db.query("SELECT * FROM release_gates WHERE candidate_id = ? "
                                      "ORDER BY position", [cid]))
        folder = self.ws.path / RELEASES_FOLDER / row["release_id"] / rel.MANIFEST
        message = signing.manifest_message(folder) if verify and folder.is_file() else None
        keys: dict[str, str | None] = {}
        approvals = []
        for a in self.ws.db.query("SELECT * FROM release_approvals WHERE candidate_id = ? "
                                  "ORDER BY id", [cid]):
            reviewer = a["reviewer"]
            if reviewer not in keys:
                keys[reviewer] = self._review_key(reviewer)
            verified = bool(
                message is not None and a["signature"]
                and message.decode().strip() == a["manifest_sha256"]
                and reviewer not in (row["author"], row["created_by"])
                and signing.verify(message, a["signature"], reviewer, keys[reviewer]))
            approvals.append(Approval(reviewer, a["decision"], a["comment"], a["at"],
                                      a["signature"], verified))
        production = (f"{row['model']}:{row['production_number']}"
                      if row["production_number"] is not None else None)
        return Candidate(
            id=cid, model=row["model"], version=int(row["version"]),
            ref=f"{row['model']}:{row['version']}", author=row["author"],
            created_by=row["created_by"], created_at=row["created_at"], status=row["status"],
            release_id=row["release_id"], manifest_sha256=row["manifest_sha256"],
            gates=gates, approvals=tuple(approvals),
            required_approvals=int(row["required_approvals"]), production=production)

    def _review_key(self, name: str) -> str | None:
        """The public key whose signatures count for ``name``: a registered reviewer's
        (or admin's) key, else ``None``."""
        row = self.ws.db.conn.execute("SELECT role, ssh_public_key FROM users WHERE name = ?",
                                      (name,)).fetchone()
        if row is None or row[0] not in REVIEW_ROLES:
            return None
        return row[1]

    def _message(self, cand: Candidate) -> bytes:
        """The manifest message to sign, refusing a manifest changed since the gates."""
        path = self.release_dir(cand) / rel.MANIFEST
        if not path.is_file():
            raise ReleaseError(f"the release folder of candidate {cand.id} is missing "
                               f"({path.parent})", f"rebuild it: `modeldeck release gates "
                               f"{cand.id}`")
        message = signing.manifest_message(path)
        if message.decode().strip() != cand.manifest_sha256:
            raise ReleaseError(f"manifest.json of candidate {cand.id} changed since its gates "
                               "ran, so it is not what was checked",
                               f"open a new candidate: `modeldeck release create {cand.ref}`")
        return message

    @staticmethod
    def _damaged(folder: Path) -> bool:
        try:
            return bool(rel.verify_files(folder, rel.read_manifest(folder)))
        except ReleaseError:
            return True

    @staticmethod
    def _manifest_sha(folder: Path) -> str:
        return signing.manifest_message(folder / rel.MANIFEST).decode().strip()

    def _event(self, change: Mutation, candidate_id: int, action: str, detail: str,
               at: str | None = None) -> None:
        change.db.conn.execute(
            "INSERT INTO release_events (candidate_id, at, actor, action, detail) "
            "VALUES (?,?,?,?,?)",
            (candidate_id, at or utc_now(), self.ws.identity.name, action, detail))

    def _production(self, model: str) -> VersionInfo | None:
        try:
            return self.registry.get_version(f"{model}@production")
        except NotFoundError:
            return None

    def _model_id(self, name: str) -> int:
        row = self.ws.db.conn.execute("SELECT id FROM models WHERE name = ?",
                                      (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no model named '{name}'", "list them with `modeldeck models`")
        return int(row[0])

    def _version_id(self, info: VersionInfo) -> int:
        row = self.ws.db.conn.execute(
            "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = ? AND v.version = ?", (info.model, info.version)).fetchone()
        if row is None:
            raise NotFoundError(f"no version {info.ref}", f"see `modeldeck versions "
                                f"{info.model}`")
        return int(row[0])

    def _refuse_duplicate(self, info: VersionInfo) -> None:
        """Refuse a second open candidate for a version — unless the open one is approved
        but no longer deployable (its manifest or a reviewer's key changed): then a new
        candidate is the way to a valid approval."""
        marks = ",".join("?" for _ in OPEN_STATUSES)
        row = self.ws.db.conn.execute(
            f"SELECT id, status FROM release_candidates WHERE version_id = ? AND status IN "
            f"({marks}) ORDER BY id DESC LIMIT 1",
            (self._version_id(info), *OPEN_STATUSES)).fetchone()
        if row is not None and row[1] == "approved":
            try:
                self.check_deployable(int(row[0]))
            except NotDeployableError:
                return
        if row is not None:
            raise AlreadyExistsError(
                f"{info.ref} already has an open release candidate ({row[0]}, {row[1]})",
                f"see it with `modeldeck release show {row[0]}`; run its gates again with "
                f"`modeldeck release gates {row[0]}`")

    def _build_folder(self, info: VersionInfo) -> Path:
        """Build the version's release into ``WORKSPACE/releases/<release_id>`` — once: a
        rebuild has the same id, so an existing folder (from an earlier candidate or a
        deploy) is kept as it is."""
        from modeldeck.core.bundle import build_release

        cache = self.ws.path / RELEASES_FOLDER
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
        try:
            built = build_release(self.registry, info.ref, staging / "release",
                                  actor=self.ws.identity.name)
            final = cache / built.release_id
            if (final / rel.MANIFEST).is_file() and self._damaged(final):
                shutil.rmtree(final)  # altered since it was built: build it afresh
            if not (final / rel.MANIFEST).is_file():
                shutil.rmtree(final, ignore_errors=True)  # a damaged leftover
                try:
                    os.replace(built.path, final)
                except OSError:
                    # another build of the same version (a deploy) got there first
                    if not (final / rel.MANIFEST).is_file():
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final
