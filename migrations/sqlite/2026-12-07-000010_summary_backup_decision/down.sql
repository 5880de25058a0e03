DROP INDEX dashboard_engagements_idx;
CREATE INDEX dashboard_engagements_idx ON engagements(
    round_id, prefecture_code, tier, organization_id, stage, side_state, stage_since, id
);
ALTER TABLE engagements DROP COLUMN backup_decision;
