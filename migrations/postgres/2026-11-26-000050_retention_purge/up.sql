-- Retention: when an engagement's confidential material was purged, and which documents' bytes
-- are gone (their rows stay, for the receipt).
ALTER TABLE engagements ADD COLUMN purged_at TIMESTAMP;
ALTER TABLE documents ADD COLUMN purged_at TIMESTAMP;
CREATE INDEX documents_storage_key_idx ON documents(storage_key);
