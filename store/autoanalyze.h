/* Statistics that keep up with the writes (issue 19).
 *
 * PostgreSQL's autovacuum analyses a table once a tenth of it has changed,
 * but only at its next round (autovacuum_naptime, a minute by default): a
 * search right after a training burst is planned on statistics of tables a
 * fraction of their size. The store notes the rows it writes; past a few
 * hundred, a background thread (its own connection, never a pooled one)
 * applies autovacuum's own rule at once — ANALYZE each search table whose
 * changes since its last analysis exceed 50 rows + 10% of it — at most once
 * a second. It also vacuums latest_metrics and latest_metrics_pending by
 * autovacuum's vacuum rule (dead rows above 50 + 20% of the table): the
 * rows eight writers into one run rewrite many times a second. */
#ifndef CAIRN_AUTOANALYZE_H
#define CAIRN_AUTOANALYZE_H
#include <stddef.h>

/* rows written to the search tables (runs, params, tags, latest_metrics) */
void store_note_writes(size_t rows);
/* ANALYZEs done since start (tests and the bench read it) */
long store_analyze_count(void);
#endif
