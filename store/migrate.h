#ifndef CAIRN_MIGRATE_H
#define CAIRN_MIGRATE_H
#include "error.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};
/* generated from the files in sql/ by the Makefile (build/migrations.c) */
extern const struct migration cairn_migrations[];
extern const int cairn_migrations_count;

/* Applies pending migrations under an advisory lock (safe when several
 * servers start at once), then makes sure experiment 0 "Default" exists. */
int migrate(const char *conninfo, const char *default_artifact_root, struct error *err);
#endif
