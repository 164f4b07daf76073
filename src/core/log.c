/* Structured key=value logging to stderr. Each event is formatted into one buffer and written
 * with a single write(2) so that lines from different threads never interleave.
 *
 * Warnings and errors are rate-limited per event name: at most LIMIT_LINES lines of one event
 * per LIMIT_WINDOW_MS; the rest are counted and the next line of that event that is written
 * carries suppressed=N. A failure that repeats thousands of times a second (a full disk, a
 * database that refuses every write) then costs a few lines, not the disk the log is on. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(log_level level)
{
    atomic_store(&current_level, (int)level);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&current_level);
}

int log_level_parse(const char *name, log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

#define LIMIT_LINES 10
#define LIMIT_WINDOW_MS 60000
#define LIMIT_SLOTS 64 /* event names tracked at once (by hash; a name taking a slot resets it) */

static struct limit_slot {
    char name[48];
    int64_t window_start_ms;
    uint32_t lines;
    uint64_t suppressed;
} limit_slots[LIMIT_SLOTS];
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;

/* Returns false when this line must be dropped; else sets *suppressed to the lines of the same
 * event dropped since the last one written. */
static bool limit_allows(const char *msg, int64_t now_ms, uint64_t *suppressed)
{
    uint32_t h = 2166136261u;
    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    pthread_mutex_lock(&limit_mu);
    struct limit_slot *sl = &limit_slots[h % LIMIT_SLOTS];
    if (strncmp(sl->name, msg, sizeof sl->name - 1) != 0) { /* a new event takes the slot */
        snprintf(sl->name, sizeof sl->name, "%s", msg);
        sl->window_start_ms = now_ms;
        sl->lines = 0;
        sl->suppressed = 0;
    }
    if (now_ms - sl->window_start_ms >= LIMIT_WINDOW_MS) {
        sl->window_start_ms = now_ms;
        sl->lines = 0;
    }
    bool ok = sl->lines < LIMIT_LINES;
    if (ok) {
        sl->lines++;
        *suppressed = sl->suppressed;
        sl->suppressed = 0;
    } else {
        sl->suppressed++;
    }
    pthread_mutex_unlock(&limit_mu);
    return ok;
}

void log_write(log_level level, const char *msg, const char *fmt, ...)
{
    if ((int)level < atomic_load(&current_level) || level >= LOG_OFF) return;
    char line[2048];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t suppressed = 0;
    if (level >= LOG_WARN &&
        !limit_allows(msg, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, &suppressed))
        return;
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000L, level_names[level], msg);
    if (n < 0) return;
    if (fmt && fmt[0] && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if (suppressed && (size_t)n < sizeof line - 2) {
        int m = snprintf(line + n, sizeof line - (size_t)n, " suppressed=%llu",
                         (unsigned long long)suppressed);
        if (m > 0) n += m;
    }
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
