-- Registry reads on their indexes (bench W5).
--
-- name LIKE 'prefix%': the UNIQUE index on name sorts in the database
-- collation, which a LIKE prefix cannot use unless that collation is "C";
-- text_pattern_ops can, whatever the collation.
CREATE INDEX registered_models_name_pattern_idx ON registered_models (name text_pattern_ops);

-- tags.k = 'v': the owner's key in the index, so a filter is an index-only
-- scan and two filters meet in a hash join instead of probing every row.
DROP INDEX registered_model_tags_kv_idx;
CREATE INDEX registered_model_tags_kv_idx ON registered_model_tags (key, left(value, 200), rm_id);
DROP INDEX model_version_tags_kv_idx;
CREATE INDEX model_version_tags_kv_idx ON model_version_tags (key, left(value, 200), rm_id, version);

