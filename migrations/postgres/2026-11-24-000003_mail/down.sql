ALTER TABLE organizations DROP COLUMN cc_reply_to;
ALTER TABLE organizations DROP COLUMN reply_to;
ALTER TABLE organizations DROP COLUMN mail_signature;
DROP TABLE link_tokens;
DROP TABLE outbox;
