DROP INDEX documents_storage_key_idx;
ALTER TABLE documents DROP COLUMN purged_at;
ALTER TABLE engagements DROP COLUMN purged_at;
