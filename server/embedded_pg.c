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
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char bindir[PATH_MAX], pgdata[PATH_MAX], sockdir[PATH_MAX], logfile[PATH_MAX];
static bool started;
static struct passwd *pg_user;   /* non-NULL when running as root */
static int pg_major;
static char start_opts[PATH_MAX + 192];

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
    pg_major = best_v;
    snprintf(bindir, sizeof bindir, "%s", g.gl_pathv[best]);
    *strrchr(bindir, '/') = '\0';
    globfree(&g);
    return 0;
}

/* Runs argv (as the postgres user when root) in a new session; returns the exit status. */
/* Starts argv (as the postgres user when Cairn is root) in its own session. */
static pid_t spawn(char *const argv[], bool quiet)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
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

static int run(char *const argv[], bool quiet)
{
    pid_t pid = spawn(argv, quiet);
    if (pid < 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* As run(), for use once Cairn is the cluster's subreaper: while it waits
 * for its pg_ctl it also reaps every other child that exits (a postmaster
 * that died meanwhile stays a zombie otherwise, and pg_ctl takes a zombie
 * for a live server: "stop -w" then waits its whole timeout). With a stop
 * flag it gives up (killing pg_ctl) once the flag is set, so a restart in
 * progress never holds up Cairn's exit. */
static int run_reaping(char *const argv[], atomic_bool *stop)
{
    pid_t pid = spawn(argv, true);
    if (pid < 0)
        return -1;
    bool killed = false;
    for (;;) {
        int status;
        pid_t r;
        while ((r = waitpid(-1, &status, WNOHANG)) > 0)
            if (r == pid)
                return killed || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
        if (r < 0 && errno == ECHILD)
            return -1;
        if (stop && !killed && atomic_load(stop)) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
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
    /* the postmaster pg_ctl leaves behind becomes Cairn's child, so the
     * supervisor reaps it the moment it dies (see supervise()) */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
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
    char *opts = start_opts;
    /* syncfs: crash recovery syncs the data directory with one call per
     * file system instead of one fsync per file (PostgreSQL 14+) */
    snprintf(start_opts, sizeof start_opts, "-c listen_addresses='' -c unix_socket_directories='%s'%s", sockdir,
             pg_major >= 14 ? " -c recovery_init_sync_method=syncfs" : "");
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

/* ---- supervision (issue 15): a postmaster that dies is restarted ---- */

static pthread_t supervisor;
static bool supervising;
static atomic_bool supervisor_stop;
static void (*restarted_cb)(void);

static pid_t postmaster_pid(void)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postmaster.pid", pgdata);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    fclose(f);
    return (pid_t)pid;
}

/* Alive and not a zombie (a container's init may not reap it). */
static bool process_alive(pid_t pid)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;   /* no /proc: kill() said it exists */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')');
    return !(close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X'));
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int pg_ctl_start(int wait_s)
{
    char bin[PATH_MAX + 16], t[16];
    snprintf(bin, sizeof bin, "%s/pg_ctl", bindir);
    snprintf(t, sizeof t, "%d", wait_s);
    char *argv[] = { bin, "-D", pgdata, "-l", logfile, "-w", "-t", t, "-o", start_opts, "start", NULL };
    return run_reaping(argv, &supervisor_stop);
}

/* Reaps exited children (Cairn is the cluster's subreaper); true when
 * `which` was among them. A zombie postmaster would keep its pid "alive"
 * for the next postmaster's lock-file check. */
static bool reap(pid_t which)
{
    bool reaped = false;
    int st;
    for (pid_t r; (r = waitpid(-1, &st, WNOHANG)) > 0;)
        reaped |= r == which;
    return reaped;
}

/* Every 100 ms: is the postmaster alive? When it is not, start it again
 * (PostgreSQL runs crash recovery itself), retrying with back-off while the
 * old backends still hold its shared memory, and tell the pool. */
static void *supervise(void *arg)
{
    (void)arg;
    pid_t pid = postmaster_pid();
    int restarts = 0;
    while (!atomic_load(&supervisor_stop)) {
        sleep_ms(100);
        /* Cairn is the postmaster's subreaper: reap it (and its orphaned
         * children) at once, so no zombie keeps postmaster.pid "in use" */
        bool reaped = reap(pid);
        if (!reaped && process_alive(pid))
            continue;
        pid_t now = postmaster_pid();
        if (now != pid && process_alive(now)) {
            pid = now;
            continue;
        }
        fprintf(stderr, "cairn: the embedded PostgreSQL (pid %d) exited; restarting it\n", (int)pid);
        int backoff = 100;
        for (int attempt = 1; !atomic_load(&supervisor_stop); attempt++) {
            if (pg_ctl_start(30) == 0)
                break;
            if (atomic_load(&supervisor_stop))
                break;
            /* pg_ctl gave up waiting (a slow crash recovery) but the
             * postmaster it started lives on: a second start could only
             * fail on its lock file, forever. It is the restart. */
            reap(-1);
            pid_t started_pid = postmaster_pid();
            if (started_pid > 0 && started_pid != pid && process_alive(started_pid)) {
                fprintf(stderr, "cairn: embedded PostgreSQL restart attempt %d: pg_ctl gave up waiting; "
                                "the postmaster it started (pid %d) is still starting\n", attempt,
                        (int)started_pid);
                break;
            }
            fprintf(stderr, "cairn: embedded PostgreSQL restart attempt %d failed (see %s); "
                            "retrying in %d ms\n", attempt, logfile, backoff);
            sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        if (atomic_load(&supervisor_stop))
            break;
        pid = postmaster_pid();
        fprintf(stderr, "cairn: the embedded PostgreSQL is running again (pid %d, restart %d)\n", (int)pid,
                ++restarts);
        if (restarted_cb)
            restarted_cb();
    }
    return NULL;
}

int embedded_pg_supervise(void (*restarted)(void))
{
    restarted_cb = restarted;
    if (pthread_create(&supervisor, NULL, supervise, NULL) != 0)
        return -1;
    supervising = true;
    return 0;
}

void embedded_pg_stop(void)
{
    if (supervising) {
        atomic_store(&supervisor_stop, true);
        pthread_join(supervisor, NULL);
        supervising = false;
    }
    if (!started)
        return;
    char bin[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/pg_ctl", bindir);
    /* bounded: a cluster that does not stop in 20 s is stopped immediately
     * (crash recovery runs at the next start) */
    char *argv[] = { bin, "-D", pgdata, "-m", "fast", "-w", "-t", "20", "stop", NULL };
    if (run_reaping(argv, NULL) != 0 && process_alive(postmaster_pid())) {
        fprintf(stderr, "cairn: the embedded PostgreSQL did not stop in 20 s; stopping it immediately\n");
        char *now[] = { bin, "-D", pgdata, "-m", "immediate", "-w", "-t", "20", "stop", NULL };
        run_reaping(now, NULL);
    }
    started = false;
}
