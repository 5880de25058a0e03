DROP TABLE dashboard_sessions;
DROP INDEX dashboard_hearings_idx;
DROP INDEX dashboard_engagements_idx;
