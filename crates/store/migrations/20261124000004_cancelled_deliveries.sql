-- Deliveries whose webhook was disabled or deleted before their turn end as `cancelled`; `skipped` stays
-- for deliveries that were never meant to be attempted (e.g. no payload in the webhook's pinned version).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled'));
UPDATE deliveries SET status = 'cancelled' WHERE status = 'skipped';
