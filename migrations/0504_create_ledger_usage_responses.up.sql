-- The model response of each usage report, written in the transaction that books the report
-- (ledger/postgres), so that a statement can show every credit's evidence in the whole response
-- beside the source post. Reports booked before this table existed have no row; their
-- statements show the credited words the evidence holds. The response is not part of the
-- journal; the report's payload hash (ledger_transactions.payload_hash) covers it.
CREATE TABLE IF NOT EXISTS ledger_usage_responses (
    transaction_id UUID NOT NULL PRIMARY KEY,
    response       TEXT NOT NULL
);
