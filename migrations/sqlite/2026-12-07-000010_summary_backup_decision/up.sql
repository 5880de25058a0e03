-- The dashboard summary counts backup decisions in its one grouped pass over engagements
-- (issue 10): each engagement carries its proposal's outcome — `adopt`, `defer`, `decline`,
-- `skipped`, or NULL (no proposal, or no decision yet) — kept in step with backup_proposals by
-- the code that writes a proposal.
ALTER TABLE engagements ADD COLUMN backup_decision TEXT;
UPDATE engagements SET backup_decision = (
    SELECT CASE WHEN p.skipped_reason IS NOT NULL THEN 'skipped' ELSE p.decision END
    FROM backup_proposals p WHERE p.engagement_id = engagements.id
);
-- The summary's pass reads this index alone.
DROP INDEX dashboard_engagements_idx;
CREATE INDEX dashboard_engagements_idx ON engagements(
    round_id, prefecture_code, tier, organization_id, stage, side_state, backup_decision,
    stage_since, id
);
