-- Statistics records: one row per run of a statistics node over one window.
-- window_from and window_to are device time in Unix milliseconds ([from, to));
-- created_at is Unix nanoseconds of the server's clock (the latest write: a
-- re-run of the same window replaces the row and keeps its id).

CREATE TABLE stats_records (
    tenant      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    flow_id     TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    job         TEXT    NOT NULL,
    window_from INTEGER NOT NULL,
    window_to   INTEGER NOT NULL CHECK (window_to > window_from),
    groups_json TEXT    NOT NULL DEFAULT '[]', -- JSON array: the STATS message's groups
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, flow_id, node_id, window_from, window_to)
);
-- The API lists newest window first, filtered by any of these.
CREATE INDEX stats_records_window ON stats_records (tenant, window_to DESC, window_from DESC, id);
CREATE INDEX stats_records_flow ON stats_records (tenant, flow_id, node_id, window_to DESC);
CREATE INDEX stats_records_job ON stats_records (tenant, job, window_to DESC);
