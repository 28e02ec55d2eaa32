-- Who wrote the stored version of a post's text: the identity key of its last editor (the
-- author's own key when nobody else changed it), NULL when the source does not say (and for
-- posts stored before this column). Claims accept a challenge only from a version the claimed
-- identity wrote itself: on Stack Exchange anyone can suggest an edit to someone else's post.
-- No foreign key: an editor need not be a stored identity.
ALTER TABLE posts ADD COLUMN IF NOT EXISTS last_editor_key TEXT;
