-- Retention prunes the oldest events first (their deliveries and attempts go with them).
CREATE INDEX events_by_received_at ON events (received_at);
