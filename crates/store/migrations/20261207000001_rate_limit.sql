-- A webhook's rate limit: the most deliveries a second its endpoint is sent, across every worker. NULL is
-- no limit.
ALTER TABLE webhooks
    ADD COLUMN rate_limit integer CHECK (rate_limit > 0);

-- Where each rate-limited endpoint's schedule stands: the earliest time its next delivery may be sent.
-- Each delivery reserves the slot at `next_at` (or now, if that has passed) and moves it on by one
-- interval, so the workers share one schedule without talking to one another. Unlogged: it is pacing
-- state, not history, and a crash that empties it only lets the next delivery go at once.
CREATE UNLOGGED TABLE webhook_rate_slots (
    webhook_id uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    next_at timestamptz NOT NULL
);
