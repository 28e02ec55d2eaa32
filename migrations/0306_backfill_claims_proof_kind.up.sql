-- Claims verified before 0305 record their proof kind from decided_by: admin approvals are
-- 'admin'; post proofs are 'legacy_post', as nobody checked who wrote the post version. A
-- separate migration because CockroachDB cannot update a column in the transaction that adds it.
UPDATE claims SET proof_kind = CASE WHEN decided_by LIKE 'admin:%' THEN 'admin' ELSE 'legacy_post' END
WHERE status = 'verified' AND proof_kind = '';
