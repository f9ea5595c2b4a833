-- What a fan-out needs to know about an organisation's subscriptions (its enabled webhooks' URLs, event
-- types and version pins, and its "Enable event triggers" switch) changes rarely, and is read for every
-- event. Workers keep it, and each fan-out statement checks that what it used is still current: every
-- change to those columns bumps the organisation's generation in the same transaction, so a statement
-- that finds the generation it was given knows nothing it relied on has changed since it was read.
-- An organisation without a row is at generation 0.
CREATE TABLE subscription_generations (
    organisation_id text   PRIMARY KEY,
    generation      bigint NOT NULL
);

-- Bumps the generation of the organisation of the row changed (both, should a row move).
CREATE FUNCTION bump_subscription_generation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    organisations text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        organisations := ARRAY[NEW.organisation_id];
    ELSIF TG_OP = 'DELETE' THEN
        organisations := ARRAY[OLD.organisation_id];
    ELSE
        organisations := ARRAY[OLD.organisation_id, NEW.organisation_id];
    END IF;
    INSERT INTO subscription_generations AS g (organisation_id, generation)
    SELECT DISTINCT o, 1 FROM unnest(organisations) AS o
    ON CONFLICT (organisation_id) DO UPDATE SET generation = g.generation + 1;
    RETURN NULL;
END
$$;

-- The columns the fan-out reads (hookline_delivery's `subscriptions` query); a breaker's or a rate
-- limit's bookkeeping on the same rows bumps nothing.
CREATE TRIGGER webhooks_subscription_added_or_removed
    AFTER INSERT OR DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION bump_subscription_generation();
CREATE TRIGGER webhooks_subscription_changed
    AFTER UPDATE ON webhooks
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.url IS DISTINCT FROM NEW.url
          OR OLD.event_types IS DISTINCT FROM NEW.event_types
          OR OLD.event_versions IS DISTINCT FROM NEW.event_versions
          OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id)
    EXECUTE FUNCTION bump_subscription_generation();

CREATE TRIGGER organisation_settings_triggers_added_or_removed
    AFTER INSERT OR DELETE ON organisation_settings
    FOR EACH ROW EXECUTE FUNCTION bump_subscription_generation();
CREATE TRIGGER organisation_settings_triggers_switched
    AFTER UPDATE ON organisation_settings
    FOR EACH ROW
    WHEN (OLD.event_triggers_enabled IS DISTINCT FROM NEW.event_triggers_enabled)
    EXECUTE FUNCTION bump_subscription_generation();
