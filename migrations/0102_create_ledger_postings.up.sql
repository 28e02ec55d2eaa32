-- Postings: signed amounts, debit positive, credit negative; the postings of a transaction sum
-- to zero per currency. The scale (12) is the ledger's finest quantum; amounts are checked in Go
-- before insert because CockroachDB silently rounds to the column's scale. created_at repeats
-- the transaction's so that balances as of a time and statements read one index.
-- No foreign keys: on PostgreSQL each would run a per-row check that takes a KEY SHARE lock on the
-- parent (the provider's account row on every report: a hot row). The ledger writes postings only
-- in the transaction that writes their parent, and ledger/ledgertest checks the references.
CREATE TABLE IF NOT EXISTS ledger_postings (
    transaction_id UUID           NOT NULL,
    n              INT8           NOT NULL,
    account_id     UUID           NOT NULL,
    currency       TEXT           NOT NULL CHECK (length(currency) = 3),
    amount         NUMERIC(38,12) NOT NULL CHECK (amount <> 0),
    created_at     TIMESTAMPTZ    NOT NULL,
    PRIMARY KEY (transaction_id, n)
);
