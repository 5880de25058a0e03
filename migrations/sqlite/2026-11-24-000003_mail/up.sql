-- Outgoing mail (written in the same transaction as the change that causes it) and the signed
-- links it carries.

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    engagement_id TEXT REFERENCES engagements(id),
    contact_id TEXT,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    envelope_from TEXT NOT NULL,
    envelope_to TEXT NOT NULL,
    subject TEXT NOT NULL,
    charset TEXT NOT NULL,
    raw TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox(status, next_attempt_at);
CREATE INDEX outbox_engagement_idx ON outbox(engagement_id);

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

-- Per organisation: the signature under its mail and the address replies go to.
ALTER TABLE organizations ADD COLUMN mail_signature TEXT;
ALTER TABLE organizations ADD COLUMN reply_to TEXT;
ALTER TABLE organizations ADD COLUMN cc_reply_to BOOLEAN NOT NULL DEFAULT FALSE;
