-- Links become random 128-bit tokens of which only the SHA-256 is stored. Links signed
-- before this change carried their claims and are not kept: they cannot be matched to a hash,
-- so they open as unknown links (the friendly 404 page); coordinators re-issue them.
DROP TABLE link_tokens;
CREATE TABLE link_tokens (
    token_hash TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    purpose TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX link_tokens_contact_idx ON link_tokens(contact_id);
CREATE INDEX link_tokens_engagement_idx ON link_tokens(engagement_id);

-- Raised on a password, role, organisation or activity change: access tokens carry it and stop
-- working once it moves on.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
