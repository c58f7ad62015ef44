-- Alarms raised by alarm nodes, and the history of their changes. An alarm is
-- active or cleared and, independently, acknowledged or not. since and ts are
-- device time in Unix milliseconds (as in alarm events); the other times are
-- Unix nanoseconds of the server's clock (0 = unset).

CREATE TABLE alarms (
    tenant        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    flow_id       TEXT    NOT NULL,
    node_id       TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    device_id     TEXT    NOT NULL,
    severity      TEXT    NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'cleared')),
    acknowledged  INTEGER NOT NULL DEFAULT 0,
    value         REAL,                         -- NULL: no deciding value
    signals       TEXT    NOT NULL DEFAULT '{}', -- JSON object: the rule's signals when last changed
    count         INTEGER NOT NULL DEFAULT 1,
    since         INTEGER NOT NULL,              -- device ms: became active
    ts            INTEGER NOT NULL,              -- device ms: last change
    acked_at      INTEGER NOT NULL DEFAULT 0,
    acked_by      TEXT    NOT NULL DEFAULT '',
    ack_comment   TEXT    NOT NULL DEFAULT '',
    cleared_at    INTEGER NOT NULL DEFAULT 0,
    cleared_by    TEXT    NOT NULL DEFAULT '',   -- '' when the condition cleared it
    clear_comment TEXT    NOT NULL DEFAULT '',
    command_key   TEXT    NOT NULL DEFAULT '',   -- state key where operator commands reach the node
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- The API lists newest first, filtered by any of these.
CREATE INDEX alarms_since ON alarms (tenant, since DESC, id);
CREATE INDEX alarms_status ON alarms (tenant, status, acknowledged, since DESC);
CREATE INDEX alarms_severity ON alarms (tenant, severity, since DESC);
CREATE INDEX alarms_device ON alarms (tenant, device_id, since DESC);
CREATE INDEX alarms_rule ON alarms (tenant, rule, since DESC);
CREATE INDEX alarms_flow ON alarms (tenant, flow_id, since DESC);

CREATE TABLE alarm_history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT    NOT NULL,
    alarm_id     TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('created', 'updated', 'cleared', 'acknowledged')),
    reason       TEXT    NOT NULL DEFAULT '',
    severity     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    acknowledged INTEGER NOT NULL,
    value        REAL,
    count        INTEGER NOT NULL,
    ts           INTEGER NOT NULL,               -- device ms
    by_user      TEXT    NOT NULL DEFAULT '',
    comment      TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (tenant, alarm_id) REFERENCES alarms (tenant, id) ON DELETE CASCADE
);
CREATE INDEX alarm_history_alarm ON alarm_history (tenant, alarm_id, seq);
