-- Why Hookline itself switched a webhook off, and when: its endpoint answered 410 Gone, say. Both are NULL
-- while the webhook is enabled and when an administrator switched it off; enabling it clears them.
ALTER TABLE webhooks
    ADD COLUMN disabled_reason text,
    ADD COLUMN disabled_at timestamptz;
