ALTER TABLE users DROP COLUMN token_version;
DROP TABLE link_tokens;
CREATE TABLE link_tokens (
    jti TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    purpose TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX link_tokens_contact_idx ON link_tokens(contact_id);
