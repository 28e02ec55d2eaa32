-- The attribution evidence of a usage (response spans and source posts per identity): a format
-- byte (2) and the S2-compressed (github.com/klauspost/compress/s2) JSON array of spans, NULL for
-- other kinds. Kept out of the metadata JSONB and compressed in Go because the spans are the bulk
-- of a report (3-4 kB for ten identities, a few hundred bytes compressed): as JSONB they cost
-- PostgreSQL more than all the postings of the report together, and TOASTed values cost more on
-- both engines. A separate migration because 0101 has been merged: migrations are never edited.
ALTER TABLE ledger_transactions ADD COLUMN IF NOT EXISTS evidence BYTEA;
