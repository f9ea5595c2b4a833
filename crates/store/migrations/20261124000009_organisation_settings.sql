-- Per-organisation settings. An organisation without a row has the defaults.
CREATE TABLE organisation_settings (
    organisation_id        text        PRIMARY KEY,
    -- The unit system quantities in event data are delivered in (seed 000's localisation).
    unit_system            text        NOT NULL DEFAULT 'metric' CHECK (unit_system IN ('metric', 'imperial')),
    -- Seed 002's "Enable event triggers": while off, events are logged but every delivery is skipped.
    event_triggers_enabled boolean     NOT NULL DEFAULT true,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
