-- The webhook registry and the delivery log.

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    organisation_id text        NOT NULL,
    name            text        NOT NULL,
    url             text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('enabled', 'disabled')),
    event_types     text[]      NOT NULL CHECK (cardinality(event_types) > 0),
    -- The `whsec_…` signing secret.
    secret          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Listing an organisation's webhooks, oldest first.
CREATE INDEX webhooks_by_organisation ON webhooks (organisation_id, created_at, id);
-- Fan-out: the enabled webhooks of an organisation.
CREATE INDEX webhooks_enabled_by_organisation ON webhooks (organisation_id) WHERE status = 'enabled';

-- Every event the fan-out stage consumed, once (the id makes replays idempotent).
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    organisation_id text        NOT NULL,
    event_type      text        NOT NULL,
    version         integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    data            jsonb       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_organisation ON events (organisation_id, received_at DESC);

-- One event to one webhook. No foreign key to webhooks: the log outlives a deleted webhook.
CREATE TABLE deliveries (
    id                   uuid PRIMARY KEY,
    event_id             uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id           uuid        NOT NULL,
    organisation_id      text        NOT NULL,
    event_type           text        NOT NULL,
    url                  text        NOT NULL,
    status               text        NOT NULL
        CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'skipped')),
    attempts             integer     NOT NULL DEFAULT 0,
    last_response_status integer,
    next_attempt_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_by_organisation ON deliveries (organisation_id, created_at DESC, id DESC);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX deliveries_by_event ON deliveries (event_id);

-- Every HTTP attempt, with what was sent and what came back.
CREATE TABLE delivery_attempts (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id             uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt                 integer     NOT NULL,
    started_at              timestamptz NOT NULL,
    duration_ms             integer     NOT NULL,
    -- NULL when no response arrived.
    response_status         integer,
    response_headers        jsonb       NOT NULL,
    response_body           text        NOT NULL,
    response_body_truncated boolean     NOT NULL,
    request_body            text        NOT NULL,
    error                   text,
    success                 boolean     NOT NULL
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, attempt);
