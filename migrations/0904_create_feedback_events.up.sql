-- Feedback events reported by providers: append-only, idempotent by (provider, request id) with
-- the payload hash kept, like usage reports. rater_id is the provider's opaque pseudonymous id of
-- its user; the rater's identity is provider:<provider_id>/<rater_id>. epoch is the UTC month
-- the event was recorded in, the epoch it counts for at settlement.
CREATE TABLE IF NOT EXISTS feedback_events (
    provider_id      UUID        NOT NULL,
    request_id       TEXT        NOT NULL,
    payload_hash     BYTEA       NOT NULL,
    rater_id         TEXT        NOT NULL,
    kind             TEXT        NOT NULL CHECK (kind IN ('thumbs_up', 'thumbs_down', 'preference', 'correction')),
    model_version    TEXT        NOT NULL,
    usage_request_id TEXT,
    epoch            TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, request_id)
);
