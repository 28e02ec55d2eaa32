-- The transaction kinds of 0101 and feedback_settlement: a feedback pool split among its raters,
-- keyed (provider, kind, pool address) so that a pool is settled at most once.
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_valid
    CHECK (kind IN ('usage', 'reversal', 'escrow_release', 'payout', 'feedback_settlement'));
