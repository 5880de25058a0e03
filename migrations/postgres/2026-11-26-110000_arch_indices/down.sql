DROP INDEX outbox_due_partial_idx;
DROP INDEX engagements_hospital_idx;
DROP INDEX engagements_prefecture_idx;
