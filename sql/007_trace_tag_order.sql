-- search_traces with a tag equality filter (issue 14): each tag row carries
-- its trace's experiment and request time, so that one index range gives the
-- newest matching traces in order and a page stops after page-size rows,
-- instead of fetching every matching trace and sorting. Triggers keep the
-- copies equal to trace_info's.

ALTER TABLE trace_tags ADD COLUMN experiment_id bigint, ADD COLUMN request_time bigint;

UPDATE trace_tags g SET experiment_id = t.experiment_id, request_time = t.request_time
  FROM trace_info t WHERE t.trace_id = g.trace_id;

CREATE FUNCTION trace_tags_fill_order() RETURNS trigger LANGUAGE plpgsql SET search_path = cairn AS $$
BEGIN
    SELECT t.experiment_id, t.request_time INTO NEW.experiment_id, NEW.request_time
      FROM trace_info t WHERE t.trace_id = NEW.trace_id;
    RETURN NEW;
END $$;

CREATE TRIGGER trace_tags_fill_order BEFORE INSERT OR UPDATE OF trace_id ON trace_tags
    FOR EACH ROW EXECUTE FUNCTION trace_tags_fill_order();

CREATE FUNCTION trace_info_sync_tag_order() RETURNS trigger LANGUAGE plpgsql SET search_path = cairn AS $$
BEGIN
    UPDATE trace_tags SET experiment_id = NEW.experiment_id, request_time = NEW.request_time
     WHERE trace_id = NEW.trace_id;
    RETURN NULL;
END $$;

CREATE TRIGGER trace_info_sync_tag_order AFTER UPDATE OF experiment_id, request_time ON trace_info
    FOR EACH ROW
    WHEN (OLD.experiment_id IS DISTINCT FROM NEW.experiment_id OR OLD.request_time IS DISTINCT FROM NEW.request_time)
    EXECUTE FUNCTION trace_info_sync_tag_order();

CREATE INDEX trace_tags_kv_time_idx ON trace_tags (key, left(value, 200), experiment_id, request_time DESC, trace_id);
DROP INDEX trace_tags_kv_idx;
