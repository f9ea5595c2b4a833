-- Where each delivery's current chain of attempts started (1, or the first attempt of a redelivery or
-- replay), so a retry that the broker never brought back can be re-driven on its own schedule; and the
-- claim a worker takes on a retry before sending it, so that no attempt number is sent twice when two
-- copies of its task exist (a re-driven one and a late one).
ALTER TABLE deliveries
    ADD COLUMN chain_start      integer NOT NULL DEFAULT 1,
    ADD COLUMN claimed_attempt  integer,
    ADD COLUMN claim_expires_at timestamptz;

-- Overdue retries are found (and measured) by when they were due.
CREATE INDEX deliveries_retrying_by_due ON deliveries (next_attempt_at) WHERE status = 'retrying';
