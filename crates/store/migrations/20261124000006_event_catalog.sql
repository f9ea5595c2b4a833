-- Event types registered beside the built-in catalog (which ships inside the binaries), one row per version.
CREATE TABLE event_type_versions (
    name          text        NOT NULL,
    version       integer     NOT NULL CHECK (version >= 1),
    description   text        NOT NULL,
    schema        jsonb       NOT NULL,
    example       jsonb       NOT NULL,
    registered_by text        NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
