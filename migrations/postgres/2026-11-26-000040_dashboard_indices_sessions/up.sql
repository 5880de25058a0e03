-- Dashboards: a covering index for the summary's one grouped pass over a round (with `id`, so that
-- its join to the backup proposals needs no table lookups), the hearing
-- lookups of the hospitals table, and the web dashboard's sign-in sessions (in the database,
-- so that any replica can serve any request).

CREATE INDEX dashboard_engagements_idx ON engagements(
    round_id, prefecture_code, tier, organization_id, stage, side_state, stage_since, id
);
CREATE INDEX dashboard_hearings_idx ON hearings(engagement_id, status);

-- `id` is the SHA-256 of the cookie's secret: the database never holds a usable session.
CREATE TABLE dashboard_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX dashboard_sessions_user_idx ON dashboard_sessions(user_id);
