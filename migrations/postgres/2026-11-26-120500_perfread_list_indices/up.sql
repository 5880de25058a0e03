-- Filtered lists read in keyset order (issue 11): an index range per filter, already in the
-- list's order, so that a page reads about `limit` rows instead of every match plus a sort.
CREATE INDEX engagements_prefecture_stage_idx ON engagements(prefecture_code, stage, id);
CREATE INDEX hospitals_prefecture_id_idx ON hospitals(prefecture_code, id);
CREATE INDEX outbox_status_id_idx ON outbox(status, id);
