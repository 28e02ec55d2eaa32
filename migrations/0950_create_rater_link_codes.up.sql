-- One-time link codes a provider hands its user to link a rater identity
-- (provider:<provider_id>/<rater_id>) to a contributor (claims.Service.RedeemLinkCode). Only the
-- SHA-256 of the code is kept; the code has 160 random bits. used_at is set once, in the
-- transaction that verifies the claim; expires_at is compared with the service's clock.
CREATE TABLE IF NOT EXISTS rater_link_codes (
    code_hash   BYTEA       PRIMARY KEY,
    provider_id UUID        NOT NULL,
    rater_id    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    used_by     UUID,
    claim_id    UUID
);
