-- How Hookline authenticates to each endpoint. Credentials are sealed like signing secrets.
ALTER TABLE webhooks
    ADD COLUMN auth_method text NOT NULL DEFAULT 'none' CHECK (auth_method IN ('none', 'basic', 'header')),
    ADD COLUMN auth_key_id text,
    ADD COLUMN auth_sealed bytea;
