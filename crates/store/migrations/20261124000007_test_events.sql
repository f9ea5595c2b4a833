-- Test events (SendTestEvent) are logged like any other, marked so that logs can tell them apart.
ALTER TABLE events ADD COLUMN test boolean NOT NULL DEFAULT false;
ALTER TABLE deliveries ADD COLUMN test boolean NOT NULL DEFAULT false;
