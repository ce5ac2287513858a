-- OTLP span ingest (issue 14): the spans table loses its per-row foreign key
-- check. Every span insert ran an RI trigger (a SELECT … FOR KEY SHARE on
-- trace_info per span: a fifth of the database's work at 100 spans per
-- request), although spans are only ever written in the transaction that has
-- just inserted or updated — and so locked — their trace row
-- (store/traces.c, spans_tx). Deleting traces still deletes their spans: one
-- statement-level trigger per DELETE on trace_info instead of ON DELETE
-- CASCADE, so every path that deletes traces keeps that rule.

ALTER TABLE spans DROP CONSTRAINT spans_trace_id_fkey;

CREATE FUNCTION trace_info_delete_spans() RETURNS trigger LANGUAGE plpgsql SET search_path = cairn AS $$
BEGIN
    DELETE FROM spans s USING deleted_traces d WHERE s.trace_id = d.trace_id;
    RETURN NULL;
END $$;

CREATE TRIGGER trace_info_delete_spans AFTER DELETE ON trace_info
    REFERENCING OLD TABLE AS deleted_traces
    FOR EACH STATEMENT EXECUTE FUNCTION trace_info_delete_spans();

-- spans whose trace is already gone (none are expected)
DELETE FROM spans s WHERE NOT EXISTS (SELECT 1 FROM trace_info t WHERE t.trace_id = s.trace_id);
