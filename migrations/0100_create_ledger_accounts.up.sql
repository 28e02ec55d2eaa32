-- Ledger accounts. The id is derived from the address (UUID v5), so postings can be built
-- without looking accounts up; rows are created once, on first use, and never change.
CREATE TABLE IF NOT EXISTS ledger_accounts (
    id           UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    address      TEXT        NOT NULL UNIQUE,
    type         TEXT        NOT NULL CHECK (type IN ('provider', 'provider_retained', 'contributor',
                                                      'identity_escrow', 'unattributed', 'platform',
                                                      'payout_clearing')),
    principal_id UUID        REFERENCES principals (id),
    identity_key TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
