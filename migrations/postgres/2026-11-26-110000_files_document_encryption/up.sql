-- Documents sealed at rest: the id of the master key that wraps the document's own data key,
-- that wrapped key (base64) and the document's STREAM nonce prefix (hex). All three NULL: a
-- plaintext object stored before encryption existed (read as such until `files rewrap`
-- seals it).
ALTER TABLE documents ADD COLUMN key_id TEXT;
ALTER TABLE documents ADD COLUMN wrapped_key TEXT;
ALTER TABLE documents ADD COLUMN nonce TEXT;
