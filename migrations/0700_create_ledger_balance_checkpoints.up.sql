-- Balance checkpoints (docs/design.md §8): the sums of an account's postings in one currency over
-- the journal's first journal_size transactions, written by the sealer in the transaction that
-- seals the block ending there, for every account the block touches (untouched currencies of
-- the account are carried forward, so the newest journal_size of an account holds all of its
-- currencies). Insert-only: a block adds rows, none is updated, so no row is written per
-- posting. A balance is the newest checkpoint plus the account's postings not sealed yet
-- (ledger_balance_fences bounds where those are). debits are the positive postings, credits
-- the negative ones; the balance is their sum, computed in Go.
CREATE TABLE IF NOT EXISTS ledger_balance_checkpoints (
    account_id   UUID           NOT NULL,
    journal_size INT8           NOT NULL CHECK (journal_size > 0),
    currency     TEXT           NOT NULL CHECK (length(currency) = 3),
    debits       NUMERIC(38,12) NOT NULL CHECK (debits >= 0),
    credits      NUMERIC(38,12) NOT NULL CHECK (credits <= 0),
    postings     INT8           NOT NULL CHECK (postings > 0),
    PRIMARY KEY (account_id, journal_size, currency)
);
