-- Event versions: a webhook pins a payload version per subscribed event type; an event may be published in
-- several versions at once; each delivery carries its webhook's version, or is skipped saying why.
ALTER TABLE webhooks ADD COLUMN event_versions jsonb NOT NULL DEFAULT '{}';
-- The versions of an event beside `version`/`data`, as {"<version>": <data.object>}.
ALTER TABLE events ADD COLUMN versions jsonb NOT NULL DEFAULT '{}';
ALTER TABLE deliveries ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE deliveries ADD COLUMN reason text;
