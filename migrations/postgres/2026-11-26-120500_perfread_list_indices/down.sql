DROP INDEX outbox_status_id_idx;
DROP INDEX hospitals_prefecture_id_idx;
DROP INDEX engagements_prefecture_stage_idx;
