"""Numbered schema migrations of the workspace database.

``PRAGMA user_version`` holds the number of the last migration applied. A migration is a
list of SQL statements run in one transaction together with the version bump, so a crash
mid-migration leaves the previous schema intact. Append new migrations; never edit old ones.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: users, models, versions, aliases, artifacts, audit log
    [
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('data-scientist', 'reviewer', 'admin')),
            ssh_public_key TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE artifacts (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            author TEXT NOT NULL,
            task TEXT NOT NULL,
            estimator TEXT NOT NULL,
            artifact_format TEXT NOT NULL,
            artifact_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
            trusted_types TEXT NOT NULL DEFAULT '[]',
            schema TEXT NOT NULL,
            target TEXT,
            classes TEXT,
            metrics TEXT NOT NULL DEFAULT '{}',
            environment TEXT NOT NULL DEFAULT '{}',
            fingerprints TEXT NOT NULL DEFAULT '{}',
            card TEXT NOT NULL DEFAULT '{}',
            parent_id INTEGER REFERENCES versions(id),
            reference_sample_sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
            holdout_sha256 TEXT REFERENCES artifacts(sha256),
            holdout_predictions_sha256 TEXT REFERENCES artifacts(sha256),
            UNIQUE (model_id, version)
        )
        """,
        """
        CREATE TABLE aliases (
            model_id INTEGER NOT NULL REFERENCES models(id),
            alias TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (model_id, alias)
        )
        """,
        """
        CREATE TABLE alias_history (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            alias TEXT NOT NULL,
            version_id INTEGER REFERENCES versions(id),
            previous_version_id INTEGER REFERENCES versions(id),
            at TEXT NOT NULL,
            actor TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            role TEXT,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        # Append-only at the database level too. Someone with the sqlite3 shell can drop
        # these triggers; the hash chain is what makes that tampering detectable.
        """
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        "CREATE INDEX versions_model ON versions(model_id, version)",
        "CREATE INDEX alias_history_model ON alias_history(model_id, alias, id)",
    ],
    # 2: what the drift engine needs from each version, recorded at registration:
    # permutation importance on the holdout, and the reference profile (an artifact).
    [
        "ALTER TABLE versions ADD COLUMN importance TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE versions ADD COLUMN reference_profile_sha256 TEXT "
        "REFERENCES artifacts(sha256)",
    ],
    # 3: per-model drift thresholds (only the values that differ from the defaults)
    [
        "ALTER TABLE models ADD COLUMN drift_thresholds TEXT NOT NULL DEFAULT '{}'",
    ],
    # 4: deploy targets (modeldeck.core.deploy.hosts), the history of deployments and
    # rollbacks per host, and each host's last known status (a cache, not audited).
    # Deployments and statuses name their host by text, without a foreign key: the
    # history outlives a removed host.
    [
        """
        CREATE TABLE hosts (
            name TEXT PRIMARY KEY,
            transport TEXT NOT NULL CHECK (transport IN ('ssh', 'local')),
            hostname TEXT NOT NULL DEFAULT '',
            port INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
            user TEXT NOT NULL DEFAULT '',
            identity_file TEXT NOT NULL DEFAULT '',
            proxy_jump TEXT NOT NULL DEFAULT '',
            root TEXT NOT NULL,
            python TEXT NOT NULL DEFAULT 'python3',
            groups TEXT NOT NULL DEFAULT '[]',
            labels TEXT NOT NULL DEFAULT '{}',
            serve_bind TEXT NOT NULL DEFAULT '127.0.0.1',
            serve_port INTEGER NOT NULL DEFAULT 8080
                CHECK (serve_port BETWEEN 1 AND 65535),
            systemd TEXT NOT NULL DEFAULT 'no' CHECK (systemd IN ('no', 'yes', 'auto')),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('deploy', 'rollback')),
            release_id TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            version INTEGER,
            previous_release TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL
                CHECK (outcome IN ('ok', 'failed', 'rolled-back', 'cancelled', 'unknown')),
            detail TEXT NOT NULL DEFAULT '',
            bytes_sent INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL
        )
        """,
        "CREATE INDEX deployments_host ON deployments(host, id)",
        """
        CREATE TABLE host_status (
            host TEXT PRIMARY KEY,
            checked_at TEXT NOT NULL,
            reachable INTEGER NOT NULL,
            release_id TEXT,
            model TEXT,
            version INTEGER,
            healthy INTEGER,
            detail TEXT NOT NULL DEFAULT '',
            free_bytes INTEGER,
            fingerprint TEXT NOT NULL DEFAULT ''
        )
        """,
    ],
    # 5: release candidates (modeldeck.core.release): one per model version put up for
    # release (with the production version it was gated against, the one it replaced when
    # deployed, the policy and the comparison with production), its QA gate results
    # (replaced when the gates run again; every run is in the audit log), reviewers' signed
    # approvals or rejections, and a timeline of its steps.
    [
        """
        CREATE TABLE release_candidates (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            version_id INTEGER NOT NULL REFERENCES versions(id),
            author TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('gating', 'gates-failed',
                'awaiting-approval', 'approved', 'rejected', 'deployed', 'rolled-back')),
            release_id TEXT NOT NULL,
            manifest_sha256 TEXT NOT NULL,
            required_approvals INTEGER NOT NULL DEFAULT 1 CHECK (required_approvals >= 1),
            production_version_id INTEGER REFERENCES versions(id),
            replaced_version_id INTEGER REFERENCES versions(id),
            policy TEXT NOT NULL DEFAULT '{}',
            comparison TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX release_candidates_model ON release_candidates(model_id, id)",
        """
        CREATE TABLE release_gates (
            candidate_id INTEGER NOT NULL REFERENCES release_candidates(id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            passed INTEGER NOT NULL,
            skipped INTEGER NOT NULL DEFAULT 0,
            value TEXT NOT NULL DEFAULT 'null',
            threshold TEXT NOT NULL DEFAULT 'null',
            detail TEXT NOT NULL DEFAULT '',
            run_at TEXT NOT NULL,
            PRIMARY KEY (candidate_id, name)
        )
        """,
        """
        CREATE TABLE release_approvals (
            id INTEGER PRIMARY KEY,
            candidate_id INTEGER NOT NULL REFERENCES release_candidates(id),
            reviewer TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
            comment TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            manifest_sha256 TEXT NOT NULL,
            signature TEXT
        )
        """,
        "CREATE INDEX release_approvals_candidate ON release_approvals(candidate_id, id)",
        """
        CREATE TABLE release_events (
            id INTEGER PRIMARY KEY,
            candidate_id INTEGER NOT NULL REFERENCES release_candidates(id),
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX release_events_candidate ON release_events(candidate_id, id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
