-- Sluice's first schema. Times are Unix nanoseconds (0 = unset); every record
-- carries its tenant.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (tenant, username)
);

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('session', 'api')),
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL -- 0 = never
);
CREATE INDEX tokens_user ON tokens (user_id, kind);
CREATE INDEX tokens_expiry ON tokens (expires_at) WHERE expires_at > 0;

-- One row per flow: its latest version and what is deployed.
CREATE TABLE flows (
    tenant           TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    latest_version   INTEGER NOT NULL,
    deployed_version INTEGER NOT NULL DEFAULT 0, -- 0 = not deployed
    deployed_at      INTEGER,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX flows_deployed ON flows (deployed_version) WHERE deployed_version > 0;

CREATE TABLE flow_versions (
    tenant     TEXT    NOT NULL,
    flow_id    TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    doc        BLOB    NOT NULL,
    author     TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, flow_id, version),
    FOREIGN KEY (tenant, flow_id) REFERENCES flows (tenant, id) ON DELETE CASCADE
);

-- seq orders dead letters by arrival; the oldest are dropped past the bound.
CREATE TABLE dead_letters (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    tenant     TEXT    NOT NULL,
    flow_id    TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    node_id    TEXT    NOT NULL,
    msg_id     TEXT    NOT NULL,
    msg_type   TEXT    NOT NULL,
    data_type  TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    metadata   TEXT    NOT NULL, -- JSON object
    error      TEXT    NOT NULL,
    trace      TEXT,             -- JSON, NULL when none
    created_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_tenant_flow ON dead_letters (tenant, flow_id, seq);

-- Backs the engine's persisted state store. Keys are global; the tenant
-- column is there for the day state is partitioned by tenant.
CREATE TABLE kv (
    key        TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL DEFAULT 'default',
    value      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL -- 0 = never
);
CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at > 0;
