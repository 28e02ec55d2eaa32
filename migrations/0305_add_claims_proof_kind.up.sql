-- What verified a claim: 'profile' (the identity's profile text), 'comment' (a comment the
-- identity wrote), 'own_edit_post' (a post version whose last editor is the identity), 'admin'
-- (an admin's approval), 'legacy_post' (a post, before the post's editor was checked: such a
-- proof may have been planted by someone else's edit). Empty while the claim is not verified.
-- Shown in claim status and in `royalty export claims`.
ALTER TABLE claims ADD COLUMN IF NOT EXISTS proof_kind TEXT NOT NULL DEFAULT '';
