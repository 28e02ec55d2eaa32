-- The account types of 0100 and feedback_pool: a provider's feedback money for one epoch and
-- day until it is settled among the raters.
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_type_valid
    CHECK (type IN ('provider', 'provider_retained', 'contributor', 'identity_escrow', 'unattributed',
                    'platform', 'payout_clearing', 'feedback_pool'));
