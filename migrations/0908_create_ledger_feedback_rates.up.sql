-- The feedback rate of a provider's agreement: the fraction of revenue booked into feedback
-- pools for model versions with lineage, in [0, 1], checked in Go. Apart from
-- ledger_provider_agreements because its royalty rate is NOT NULL and a provider without a row
-- there pays the configured default rate. No row: no feedback pool.
CREATE TABLE IF NOT EXISTS ledger_feedback_rates (
    provider_id   UUID        NOT NULL PRIMARY KEY REFERENCES principals (id),
    feedback_rate NUMERIC     NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
