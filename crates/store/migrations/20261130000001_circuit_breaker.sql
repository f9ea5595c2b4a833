-- Each endpoint's circuit breaker, as the delivery workers last set it. A worker opens it after
-- consecutive failed attempts: `circuit_opened_at` is when it first opened, `circuit_open_until` when the
-- next probe may go. Both are NULL while it is closed. Every worker reads them with the webhook, so one
-- worker's breaker holds back the others' attempts too.
ALTER TABLE webhooks
    ADD COLUMN circuit_opened_at timestamptz,
    ADD COLUMN circuit_open_until timestamptz;
