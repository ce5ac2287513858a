/* The embedded default: a private PostgreSQL cluster under <data-dir>/pg,
 * unix socket only, started by pg_ctl in its own session so a Ctrl-C on the
 * terminal reaches Cairn and not the postmaster. PostgreSQL refuses to run
 * as root, so as root initdb and pg_ctl run as Debian's 'postgres' user. */
#include "embedded_pg.h"
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bindir[PATH_MAX], pgdata[PATH_MAX], sockdir[PATH_MAX], logfile[PATH_MAX];
static bool started;
static struct passwd *pg_user;   /* non-NULL when running as root */

static int find_bindir(void)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0) {
        fprintf(stderr, "cairn: no PostgreSQL server found under /usr/lib/postgresql "
                        "(install it: apt-get install postgresql), or pass --backend-store-uri\n");
        return -1;
    }
    /* the highest version: compare numerically */
    int best = -1, best_v = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
        if (v > best_v) {
            best_v = v;
            best = (int)i;
        }
    }
    snprintf(bindir, sizeof bindir, "%s", g.gl_pathv[best]);
    *strrchr(bindir, '/') = '\0';
    globfree(&g);
    return 0;
}

/* Runs argv (as the postgres user when root) in a new session; returns the exit status. */
static int run(char *const argv[], bool quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
        }
        if (pg_user) {
            if (setgid(pg_user->pw_gid) || setuid(pg_user->pw_uid))
                _exit(126);
            setenv("HOME", pg_user->pw_dir, 1);
            setenv("USER", "postgres", 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

/* The postgres user must be able to reach the data dir: every parent needs o+x. */
static int check_traversable(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *slash = strrchr(p, '/'); slash && slash != p; slash = strrchr(p, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(p, &st) == 0 && !(st.st_mode & S_IXOTH) && st.st_uid != pg_user->pw_uid) {
            fprintf(stderr,
                    "cairn: the 'postgres' user cannot reach %s: %s is not traversable by others.\n"
                    "  PostgreSQL refuses to run as root, so Cairn runs it as 'postgres'.\n"
                    "  Use a --data-dir that user can reach, or allow traversal: chmod o+x %s\n",
                    dir, p, p);
            return -1;
        }
    }
    return 0;
}

int data_dir_lock(const char *data_dir)
{
    char run_dir[PATH_MAX], lock[PATH_MAX + 16];
    snprintf(run_dir, sizeof run_dir, "%s/run", data_dir);
    if (mkdir_p(run_dir, 0755)) {
        fprintf(stderr, "cairn: cannot create %s: %s\n", run_dir, strerror(errno));
        return -1;
    }
    snprintf(lock, sizeof lock, "%s/cairn.lock", run_dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
        fprintf(stderr, "cairn: another cairn-server is already using the data directory %s "
                        "(lock %s is held); stop it or pass another --data-dir\n", data_dir, lock);
        return -1;
    }
    char pid[24];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) < 0)
        perror("cairn: writing the lock file");
    return 0;   /* fd stays open: the lock lives as long as the process */
}

static int ensure_database(const char *conninfo_base)
{
    char ci[PATH_MAX + 64];
    snprintf(ci, sizeof ci, "%s dbname=postgres", conninfo_base);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cairn: cannot connect to the embedded PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'cairn'");
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    int rc = 0;
    if (!exists) {
        r = PQexec(c, "CREATE DATABASE cairn");
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !strstr(PQerrorMessage(c), "already exists")) {
            fprintf(stderr, "cairn: cannot create database: %s", PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int embedded_pg_start(const char *data_dir, char *conninfo, size_t size)
{
    if (find_bindir())
        return -1;
    if (geteuid() == 0) {
        pg_user = getpwnam("postgres");
        if (!pg_user) {
            fprintf(stderr, "cairn: running as root, but there is no 'postgres' user to run PostgreSQL "
                            "as (apt-get install postgresql creates it)\n");
            return -1;
        }
    }
    snprintf(pgdata, sizeof pgdata, "%s/pg", data_dir);
    snprintf(logfile, sizeof logfile, "%s/log/postgresql.log", data_dir);
    static char logdir[PATH_MAX];
    snprintf(logdir, sizeof logdir, "%s/log", data_dir);
    snprintf(sockdir, sizeof sockdir, "%s/run", data_dir);
    if (strlen(sockdir) > 90) {
        /* unix socket paths are limited to ~107 bytes */
        unsigned long h = 5381;
        for (const char *c = pgdata; *c; c++)
            h = h * 33 + (unsigned char)*c;
        snprintf(sockdir, sizeof sockdir, "/tmp/cairn-%lx", h);
    }
    if (mkdir_p(pgdata, 0700) || mkdir_p(logdir, 0755) || mkdir_p(sockdir, 0755)) {
        fprintf(stderr, "cairn: cannot create directories under %s: %s\n", data_dir, strerror(errno));
        return -1;
    }
    if (pg_user) {
        if (check_traversable(pgdata))
            return -1;
        if (chown(pgdata, pg_user->pw_uid, pg_user->pw_gid) || chown(sockdir, pg_user->pw_uid, pg_user->pw_gid) ||
            chown(logdir, pg_user->pw_uid, pg_user->pw_gid)) {
            fprintf(stderr, "cairn: cannot hand %s to the postgres user: %s\n", data_dir, strerror(errno));
            return -1;
        }
        chmod(data_dir, 0755);
    }
    static char path[PATH_MAX + 16], bin[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/PG_VERSION", pgdata);
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "cairn: creating a PostgreSQL cluster in %s\n", pgdata);
        snprintf(bin, sizeof bin, "%s/initdb", bindir);
        char *argv[] = { bin, "-D", pgdata, "-E", "UTF8", "--locale=C.UTF-8", "--auth=trust",
                         "-U", "postgres", NULL };
        if (run(argv, true) != 0) {
            fprintf(stderr, "cairn: initdb failed for %s\n", pgdata);
            return -1;
        }
    }
    snprintf(bin, sizeof bin, "%s/pg_ctl", bindir);
    static char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "-c listen_addresses='' -c unix_socket_directories='%s'", sockdir);
    /* a postmaster left running by a crashed server is reused; a stale
     * cluster after a crash is recovered by PostgreSQL itself */
    char *status_argv[] = { bin, "-D", pgdata, "status", NULL };
    if (run(status_argv, true) == 0) {
        fprintf(stderr, "cairn: reusing the PostgreSQL already running on %s\n", pgdata);
        started = true;
        goto connect;
    }
    char *argv[] = { bin, "-D", pgdata, "-l", logfile, "-w", "-t", "60", "-o", opts, "start", NULL };
    if (run(argv, true) != 0) {
        fprintf(stderr, "cairn: PostgreSQL did not start; see %s\n", logfile);
        return -1;
    }
    started = true;
connect:;
    static char base[PATH_MAX + 32];
    snprintf(base, sizeof base, "host=%s user=postgres", sockdir);
    if (ensure_database(base))
        return -1;
    snprintf(conninfo, size, "host=%s user=postgres dbname=cairn", sockdir);
    return 0;
}

void embedded_pg_stop(void)
{
    if (!started)
        return;
    char bin[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/pg_ctl", bindir);
    char *argv[] = { bin, "-D", pgdata, "-m", "fast", "-w", "stop", NULL };
    run(argv, true);
    started = false;
}
