-- Signing secrets are stored sealed (XChaCha20-Poly1305 under a configured master key, named by key id),
-- and a rotated-out secret keeps signing until its overlap ends. The plaintext column stays only so the
-- registry can seal rows written before this migration; it seals them and clears it at start-up.

ALTER TABLE webhooks
    ADD COLUMN secret_key_id              text,
    ADD COLUMN secret_sealed              bytea,
    ADD COLUMN previous_secret_key_id     text,
    ADD COLUMN previous_secret_sealed     bytea,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ALTER COLUMN secret DROP NOT NULL;
