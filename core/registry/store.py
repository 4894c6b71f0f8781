"""Registry storage: the :class:`RegistryStore` interface and its SQLite implementation.

The store reads and writes registry records; it computes nothing. Building a version
(loading the model, scoring the holdout, fingerprinting data) is
:class:`modeldeck.core.registry.Registry`'s job, which then hands a finished
:class:`NewVersion` to :meth:`RegistryStore.create_version`.
"""

from __future__ import annotations

import abc
import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from modeldeck.core import _faults
from modeldeck.core.errors import NotFoundError
from modeldeck.core.registry.refs import PROTECTED_ALIASES, Ref, check_alias, check_name
from modeldeck.core.registry.types import (
    AliasEvent,
    ModelCard,
    ModelInfo,
    PagedList,
    VersionInfo,
)
from modeldeck.core.schema import schema_from_json
from modeldeck.core.workspace import Workspace
from modeldeck.core.workspace._clock import utc_now


@dataclass
class NewVersion:
    """Everything needed to record a version (artifacts already in the store)."""

    model: str
    task: str
    estimator: str
    artifact_format: str
    artifact_sha256: str
    artifact_size: int
    trusted_types: tuple[str, ...]
    schema: list[dict[str, Any]]
    target: str | None
    classes: list[Any] | None
    metrics: dict[str, float]
    environment: dict[str, str]
    fingerprints: dict[str, dict[str, Any]]
    card: ModelCard
    parent: Ref | None
    reference_sample_sha256: str
    holdout_sha256: str | None
    holdout_predictions_sha256: str | None
    importance: dict[str, Any] = field(default_factory=dict)
    reference_profile_sha256: str | None = None
    artifact_sizes: dict[str, int] = field(default_factory=dict)
    description: str | None = None
    tags: tuple[str, ...] = ()
    note: str = ""


class RegistryStore(abc.ABC):
    """Where models, versions and aliases are kept (after mlflow's ``AbstractStore``)."""

    @abc.abstractmethod
    def search_models(self, query: str = "", max_results: int = 100,
                      page_token: str | None = None) -> PagedList[ModelInfo]:
        """Models whose name, description, owner or tags contain ``query``, by name."""

    @abc.abstractmethod
    def get_model(self, name: str) -> ModelInfo:
        """One model; :class:`NotFoundError` if unknown."""

    @abc.abstractmethod
    def list_versions(self, name: str) -> list[VersionInfo]:
        """All versions of a model, oldest first."""

    @abc.abstractmethod
    def get_version(self, ref: Ref) -> VersionInfo:
        """The version a reference points to."""

    @abc.abstractmethod
    def create_version(self, new: NewVersion) -> VersionInfo:
        """Record a new version (creating the model if needed), numbered next."""

    @abc.abstractmethod
    def update_model(self, name: str, *, description: str | None = None,
                     owner: str | None = None, tags: tuple[str, ...] | None = None) -> ModelInfo:
        """Change a model's description, owner or tags."""

    @abc.abstractmethod
    def update_card(self, ref: Ref, card: ModelCard) -> VersionInfo:
        """Replace a version's model card."""

    @abc.abstractmethod
    def set_reference_profile(self, ref: Ref, sha256: str, size: int) -> VersionInfo:
        """Record the reference profile artifact of a version registered without one."""

    @abc.abstractmethod
    def set_alias(self, ref: Ref, alias: str) -> AliasEvent:
        """Point ``alias`` of the model at the referenced version."""

    @abc.abstractmethod
    def remove_alias(self, name: str, alias: str) -> AliasEvent:
        """Remove an alias."""

    @abc.abstractmethod
    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or of one), newest first."""


_VERSION_SQL = """
SELECT v.*, m.name AS model_name, a.size AS artifact_size,
       pm.name AS parent_model, p.version AS parent_version,
       (SELECT group_concat(alias, ',') FROM (
            SELECT alias FROM aliases WHERE version_id = v.id ORDER BY alias)) AS alias_list
FROM versions v
JOIN models m ON m.id = v.model_id
JOIN artifacts a ON a.sha256 = v.artifact_sha256
LEFT JOIN versions p ON p.id = v.parent_id
LEFT JOIN models pm ON pm.id = p.model_id
"""


def _version(row: dict[str, Any]) -> VersionInfo:
    parent = (f"{row['parent_model']}:{row['parent_version']}"
              if row["parent_version"] is not None else None)
    classes = json.loads(row["classes"]) if row["classes"] else None
    return VersionInfo(
        model=row["model_name"], version=row["version"], created_at=row["created_at"],
        author=row["author"], task=row["task"], estimator=row["estimator"],
        artifact_format=row["artifact_format"], artifact_sha256=row["artifact_sha256"],
        artifact_size=row["artifact_size"], trusted_types=tuple(json.loads(row["trusted_types"])),
        schema=schema_from_json(json.loads(row["schema"])), target=row["target"],
        classes=tuple(classes) if classes is not None else None,
        metrics=json.loads(row["metrics"]), environment=json.loads(row["environment"]),
        fingerprints=json.loads(row["fingerprints"]),
        card=ModelCard.from_dict(json.loads(row["card"])), parent=parent,
        aliases=tuple(row["alias_list"].split(",")) if row["alias_list"] else (),
        reference_sample_sha256=row["reference_sample_sha256"],
        holdout_sha256=row["holdout_sha256"],
        holdout_predictions_sha256=row["holdout_predictions_sha256"],
        importance=json.loads(row["importance"]),
        reference_profile_sha256=row["reference_profile_sha256"],
    )


class SqliteRegistryStore(RegistryStore):
    """The registry in a workspace's SQLite database. Writes are audited mutations."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    # -- lookups ------------------------------------------------------------------------

    def _model_id(self, name: str) -> int:
        row = self.ws.db.conn.execute("SELECT id FROM models WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in self.ws.db.conn.execute("SELECT name FROM models")]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                "list the models with `modeldeck models`"
            raise NotFoundError(f"no model named '{name}'", hint)
        return int(row[0])

    def _model_info(self, row: dict[str, Any]) -> ModelInfo:
        conn = self.ws.db.conn
        count, latest = conn.execute(
            "SELECT COUNT(*), MAX(version) FROM versions WHERE model_id = ?",
            (row["id"],)).fetchone()
        aliases = dict(conn.execute(
            "SELECT a.alias, v.version FROM aliases a JOIN versions v ON v.id = a.version_id "
            "WHERE a.model_id = ? ORDER BY a.alias", (row["id"],)).fetchall())
        return ModelInfo(row["name"], row["description"], row["owner"],
                         tuple(json.loads(row["tags"])), row["created_at"], row["created_by"],
                         int(count), latest, aliases)

    def search_models(self, query: str = "", max_results: int = 100,
                      page_token: str | None = None) -> PagedList[ModelInfo]:
        # Keyset paging on the unique name: a page token is the last name seen.
        sql = "SELECT * FROM models WHERE name > ?"
        params: list[Any] = [page_token or ""]
        if query:
            like = f"%{query.lower()}%"
            sql += (" AND (lower(name) LIKE ? OR lower(description) LIKE ? "
                    "OR lower(owner) LIKE ? OR lower(tags) LIKE ?)")
            params += [like] * 4
        sql += " ORDER BY name LIMIT ?"
        params.append(max_results + 1)
        rows = list(self.ws.db.query(sql, params))
        more = len(rows) > max_results
        rows = rows[:max_results]
        token = rows[-1]["name"] if more and rows else None
        return PagedList([self._model_info(r) for r in rows], token)

    def get_model(self, name: str) -> ModelInfo:
        model_id = self._model_id(name)
        row = next(self.ws.db.query("SELECT * FROM models WHERE id = ?", [model_id]))
        return self._model_info(row)

    def list_versions(self, name: str) -> list[VersionInfo]:
        model_id = self._model_id(name)
        return [_version(r) for r in self.ws.db.query(
            _VERSION_SQL + " WHERE v.model_id = ? ORDER BY v.version", [model_id])]

    def _version_id(self, ref: Ref) -> int:
        conn = self.ws.db.conn
        model_id = self._model_id(ref.name)
        if ref.alias is not None:
            row = conn.execute("SELECT version_id FROM aliases WHERE model_id=? AND alias=?",
                               (model_id, ref.alias)).fetchone()
            if row is None:
                have = [r[0] for r in conn.execute(
                    "SELECT alias FROM aliases WHERE model_id=? ORDER BY alias", (model_id,))]
                raise NotFoundError(
                    f"model '{ref.name}' has no alias '{ref.alias}'",
                    f"its aliases are: {', '.join(have)}" if have else
                    f"set one with `modeldeck alias set {ref.name}:VERSION {ref.alias}`")
            return int(row[0])
        if ref.version is not None:
            row = conn.execute("SELECT id FROM versions WHERE model_id=? AND version=?",
                               (model_id, ref.version)).fetchone()
        else:
            row = conn.execute("SELECT id FROM versions WHERE model_id=? "
                               "ORDER BY version DESC LIMIT 1", (model_id,)).fetchone()
        if row is None:
            count = conn.execute("SELECT MAX(version) FROM versions WHERE model_id=?",
                                 (model_id,)).fetchone()[0]
            if ref.version is None or not count:
                raise NotFoundError(f"model '{ref.name}' has no versions yet",
                                    "register one with `modeldeck register`")
            raise NotFoundError(f"model '{ref.name}' has no version {ref.version}",
                                f"its versions are 1 to {count}")
        return int(row[0])

    def get_version(self, ref: Ref) -> VersionInfo:
        version_id = self._version_id(ref)
        return _version(next(self.ws.db.query(_VERSION_SQL + " WHERE v.id = ?", [version_id])))

    # -- changes ------------------------------------------------------------------------

    def create_version(self, new: NewVersion) -> VersionInfo:
        check_name(new.model)
        with self.ws.mutate("version.register", new.model, "register") as change:
            conn = change.db.conn
            now, who = utc_now(), self.ws.identity.name
            row = conn.execute("SELECT id FROM models WHERE name = ?", (new.model,)).fetchone()
            created = row is None
            if created:
                model_id = conn.execute(
                    "INSERT INTO models (name, description, owner, tags, created_at, created_by)"
                    " VALUES (?,?,?,?,?,?)",
                    (new.model, new.description or "", new.card.owner, json.dumps(list(new.tags)),
                     now, who)).lastrowid
            else:
                model_id = row[0]
                if new.description:
                    conn.execute("UPDATE models SET description=? WHERE id=?",
                                 (new.description, model_id))
            # Numbered inside the write transaction, so concurrent registrations of the
            # same model get consecutive numbers instead of colliding.
            number = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM versions "
                                  "WHERE model_id = ?", (model_id,)).fetchone()[0]
            parent_id = None
            if new.parent is not None:
                parent_id = self._version_id(new.parent)
            elif number > 1:
                parent_id = conn.execute("SELECT id FROM versions WHERE model_id=? AND version=?",
                                         (model_id, number - 1)).fetchone()[0]
            for sha, size in new.artifact_sizes.items():
                conn.execute("INSERT OR IGNORE INTO artifacts (sha256, size, kind, created_at) "
                             "VALUES (?,?,?,?)", (sha, size, "registry", now))
            version_id = conn.execute(
                "INSERT INTO versions (model_id, version, created_at, author, task, estimator,"
                " artifact_format, artifact_sha256, trusted_types, schema, target, classes,"
                " metrics, environment, fingerprints, card, parent_id, reference_sample_sha256,"
                " holdout_sha256, holdout_predictions_sha256, importance,"
                " reference_profile_sha256)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (model_id, number, now, who, new.task, new.estimator, new.artifact_format,
                 new.artifact_sha256, json.dumps(list(new.trusted_types)),
                 json.dumps(new.schema), new.target,
                 json.dumps(new.classes) if new.classes is not None else None,
                 json.dumps(new.metrics), json.dumps(new.environment),
                 json.dumps(new.fingerprints), json.dumps(new.card.to_dict()), parent_id,
                 new.reference_sample_sha256, new.holdout_sha256,
                 new.holdout_predictions_sha256, json.dumps(new.importance),
                 new.reference_profile_sha256)).lastrowid
            change.subject = f"{new.model}:{number}"
            change.payload.update(
                model_created=created, artifact_sha256=new.artifact_sha256,
                format=new.artifact_format, estimator=new.estimator, task=new.task,
                metrics=new.metrics, fingerprints=new.fingerprints,
                trusted_types=list(new.trusted_types), note=new.note)
            _faults.checkpoint("register.before-commit")
        return _version(next(self.ws.db.query(_VERSION_SQL + " WHERE v.id = ?", [version_id])))

    def update_model(self, name: str, *, description: str | None = None,
                     owner: str | None = None, tags: tuple[str, ...] | None = None) -> ModelInfo:
        with self.ws.mutate("model.update", name, "edit-model") as change:
            model_id = self._model_id(name)
            for column, value in (("description", description), ("owner", owner),
                                  ("tags", json.dumps(list(tags)) if tags is not None else None)):
                if value is not None:
                    change.db.conn.execute(f"UPDATE models SET {column}=? WHERE id=?",
                                           (value, model_id))
                    change.payload[column] = value
        return self.get_model(name)

    def update_card(self, ref: Ref, card: ModelCard) -> VersionInfo:
        with self.ws.mutate("version.card", str(ref), "edit-model") as change:
            version_id = self._version_id(ref)
            change.db.conn.execute("UPDATE versions SET card=? WHERE id=?",
                                   (json.dumps(card.to_dict()), version_id))
            info = _version(next(change.db.query(_VERSION_SQL + " WHERE v.id=?", [version_id])))
            change.subject = info.ref
            change.payload.update(card.to_dict())
        return info

    def set_reference_profile(self, ref: Ref, sha256: str, size: int) -> VersionInfo:
        with self.ws.mutate("version.reference-profile", str(ref), None) as change:
            version_id = self._version_id(ref)
            conn = change.db.conn
            conn.execute("INSERT OR IGNORE INTO artifacts (sha256, size, kind, created_at) "
                         "VALUES (?,?,?,?)", (sha256, size, "registry", utc_now()))
            conn.execute("UPDATE versions SET reference_profile_sha256=? WHERE id=? AND "
                         "reference_profile_sha256 IS NULL", (sha256, version_id))
            info = _version(next(change.db.query(_VERSION_SQL + " WHERE v.id=?", [version_id])))
            change.subject = info.ref
            change.payload.update(reference_profile_sha256=sha256)
        return info

    def set_alias(self, ref: Ref, alias: str) -> AliasEvent:
        check_alias(alias)
        permission = "alias-protected" if alias in PROTECTED_ALIASES else "alias"
        with self.ws.mutate("alias.set", f"{ref.name}@{alias}", permission) as change:
            conn = change.db.conn
            model_id = self._model_id(ref.name)
            version_id = self._version_id(ref)
            number = conn.execute("SELECT version FROM versions WHERE id=?",
                                  (version_id,)).fetchone()[0]
            prev = conn.execute(
                "SELECT a.version_id, v.version FROM aliases a JOIN versions v "
                "ON v.id = a.version_id WHERE a.model_id=? AND a.alias=?",
                (model_id, alias)).fetchone()
            now, who = utc_now(), self.ws.identity.name
            conn.execute("INSERT OR REPLACE INTO aliases (model_id, alias, version_id, updated_at,"
                         " updated_by) VALUES (?,?,?,?,?)", (model_id, alias, version_id, now, who))
            conn.execute("INSERT INTO alias_history (model_id, alias, version_id,"
                         " previous_version_id, at, actor) VALUES (?,?,?,?,?,?)",
                         (model_id, alias, version_id, prev[0] if prev else None, now, who))
            change.payload.update(version=number, previous=prev[1] if prev else None)
        return AliasEvent(ref.name, alias, number, prev[1] if prev else None, now, who)

    def remove_alias(self, name: str, alias: str) -> AliasEvent:
        check_alias(alias)
        permission = "alias-protected" if alias in PROTECTED_ALIASES else "alias"
        with self.ws.mutate("alias.remove", f"{name}@{alias}", permission) as change:
            conn = change.db.conn
            model_id = self._model_id(name)
            prev = conn.execute(
                "SELECT a.version_id, v.version FROM aliases a JOIN versions v "
                "ON v.id = a.version_id WHERE a.model_id=? AND a.alias=?",
                (model_id, alias)).fetchone()
            if prev is None:
                raise NotFoundError(f"model '{name}' has no alias '{alias}'",
                                    f"see its aliases with `modeldeck show {name}`")
            now, who = utc_now(), self.ws.identity.name
            conn.execute("DELETE FROM aliases WHERE model_id=? AND alias=?", (model_id, alias))
            conn.execute("INSERT INTO alias_history (model_id, alias, version_id,"
                         " previous_version_id, at, actor) VALUES (?,?,NULL,?,?,?)",
                         (model_id, alias, prev[0], now, who))
            change.payload.update(previous=prev[1])
        return AliasEvent(name, alias, None, prev[1], now, who)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        model_id = self._model_id(name)
        sql = ("SELECT h.alias, v.version AS version, p.version AS previous, h.at, h.actor "
               "FROM alias_history h LEFT JOIN versions v ON v.id = h.version_id "
               "LEFT JOIN versions p ON p.id = h.previous_version_id WHERE h.model_id = ?")
        params: list[Any] = [model_id]
        if alias is not None:
            sql += " AND h.alias = ?"
            params.append(alias)
        sql += " ORDER BY h.id DESC"
        return [AliasEvent(name, r["alias"], r["version"], r["previous"], r["at"], r["actor"])
                for r in self.ws.db.query(sql, params)]
