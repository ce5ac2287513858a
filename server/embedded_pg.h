#ifndef CAIRN_EMBEDDED_PG_H
#define CAIRN_EMBEDDED_PG_H
#include <stddef.h>
/* Starts (creating on first use) the private cluster under data_dir/pg and
 * writes a libpq conninfo for it. Exits with a message on failure. */
int  embedded_pg_start(const char *data_dir, char *conninfo, size_t size);
void embedded_pg_stop(void);
/* Watches the postmaster (every 100 ms) and restarts it when it dies,
 * calling restarted() after each restart. embedded_pg_stop() ends it. */
int  embedded_pg_supervise(void (*restarted)(void));
/* Takes data_dir/run/cairn.lock so a second server on the same dir refuses. */
int  data_dir_lock(const char *data_dir);
#endif
