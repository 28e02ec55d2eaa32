-- A provider's royalty rate, a fraction in [0, 1] checked in Go. Providers without a row pay the
-- configured default rate.
CREATE TABLE IF NOT EXISTS ledger_provider_agreements (
    provider_id  UUID        NOT NULL PRIMARY KEY REFERENCES principals (id),
    royalty_rate NUMERIC     NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
