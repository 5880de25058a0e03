-- Issue 9: indices the lists and the mail worker need. link_tokens(engagement_id) and
-- hearings(engagement_id) exist already (link_tokens_engagement_idx, dashboard_hearings_idx).
CREATE INDEX engagements_prefecture_idx ON engagements(prefecture_code);
CREATE INDEX engagements_hospital_idx ON engagements(hospital_id);
-- The worker's claim reads only rows still to send, in due order.
CREATE INDEX outbox_due_partial_idx ON outbox(next_attempt_at, id)
    WHERE status IN ('pending', 'sending');
