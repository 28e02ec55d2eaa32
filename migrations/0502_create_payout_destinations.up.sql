-- Where a contributor's payouts go, as entered in the web app. Append-only: each change is a
-- new row (the newest is current), so that every change stays recorded with the session that
-- made it (its id hash) and when.
CREATE TABLE IF NOT EXISTS payout_destinations (
    id             UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    contributor_id UUID        NOT NULL REFERENCES principals (id),
    destination    TEXT        NOT NULL,
    session_hash   BYTEA       NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
