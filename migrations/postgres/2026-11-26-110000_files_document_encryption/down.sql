ALTER TABLE documents DROP COLUMN nonce;
ALTER TABLE documents DROP COLUMN wrapped_key;
ALTER TABLE documents DROP COLUMN key_id;
