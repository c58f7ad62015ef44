-- The device registry: devices of a tenant and the credentials they
-- authenticate with. Only hashes of secrets are kept: the hex SHA-256 of a
-- random token, the bcrypt hash of a password.

CREATE TABLE devices (
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    "group"    TEXT    NOT NULL DEFAULT '',
    tags       TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX devices_group ON devices (tenant, "group", id);

-- tenant is part of the device's key; credentials are unique across
-- tenants, so that a credential alone names its device and tenant.
CREATE TABLE device_credentials (
    tenant     TEXT    NOT NULL,
    device_id  TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'password')),
    username   TEXT    NOT NULL DEFAULT '', -- kind password only
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (tenant, device_id) REFERENCES devices (tenant, id) ON DELETE CASCADE,
    CHECK ((kind = 'token' AND username = '') OR (kind = 'password' AND username <> ''))
);
CREATE INDEX device_credentials_device ON device_credentials (tenant, device_id);
CREATE UNIQUE INDEX device_credentials_token ON device_credentials (hash) WHERE kind = 'token';
CREATE UNIQUE INDEX device_credentials_username ON device_credentials (username) WHERE kind = 'password';
