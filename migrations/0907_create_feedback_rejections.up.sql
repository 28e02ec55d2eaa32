-- Raters whose feedback in an epoch the provider rejected (spam): it counts nothing at the
-- settlements that follow. Append-only.
CREATE TABLE IF NOT EXISTS feedback_rejections (
    provider_id UUID        NOT NULL,
    epoch       TEXT        NOT NULL,
    rater_id    TEXT        NOT NULL,
    declared_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, epoch, rater_id)
);
