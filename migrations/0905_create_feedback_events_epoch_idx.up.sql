-- Settlement counts an epoch's events per rater.
CREATE INDEX IF NOT EXISTS feedback_events_epoch_idx ON feedback_events (provider_id, epoch, rater_id);
