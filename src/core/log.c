/* Structured logging to stderr, logfmt (default) or JSON with Elastic Common Schema names.
 * Each event is formatted into one buffer and written with a single write(2) so that lines
 * from different threads never interleave.
 *
 * Warnings and errors are rate-limited per event name: at most LIMIT_LINES lines of one event
 * per LIMIT_WINDOW_MS; the rest are counted and the next line of that event that is written
 * carries suppressed=N. A failure that repeats thousands of times a second (a full disk, a
 * database that refuses every write) then costs a few lines, not the disk the log is on.
 *
 * Call sites format their fields as "key=value key=\"value with spaces\"" text; the JSON
 * formatter parses that text back into pairs. A few keys have an ECS meaning and get its
 * field name (peer -> source.ip/source.port, err -> error.message, device -> device.id...);
 * every other key goes under "iotad." as a string, so an Elasticsearch mapping never sees
 * the same field once as a number and once as text. */
#include "core/log.h"

#include "core/utf8.h"
#include "core/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_format = LOG_FORMAT_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const format_names[] = {"logfmt", "json"};

#define ECS_VERSION "8.11.0"
#define KV_MAX 2048       /* the formatted key=value text */
#define LOG_LINE_MAX 6144 /* one output line: JSON escaping can grow the text */

void log_set_level(log_level level)
{
    atomic_store(&current_level, (int)level);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&current_level);
}

/* Index of name in names[n], or -1. */
static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int log_level_parse(const char *name, log_level *out)
{
    int i = name_index(level_names, LOG_OFF + 1, name);
    if (i < 0) return -1;
    *out = (log_level)i;
    return 0;
}

void log_set_format(log_format format)
{
    atomic_store(&current_format, (int)format);
}

log_format log_get_format(void)
{
    return (log_format)atomic_load(&current_format);
}

int log_format_parse(const char *name, log_format *out)
{
    int i = name_index(format_names, LOG_FORMAT_JSON + 1, name);
    if (i < 0) return -1;
    *out = (log_format)i;
    return 0;
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

/* --- JSON writer that never overruns and always closes the object ------------------------- */

typedef struct {
    char *p;
    size_t n, lim; /* lim leaves room for the closing text */
    bool truncated;
} jbuf;

static const char jclose_trunc[] = ",\"log.truncated\":true}\n";

static bool jraw(jbuf *j, const char *s, size_t len)
{
    if (j->n + len > j->lim) {
        j->truncated = true;
        return false;
    }
    memcpy(j->p + j->n, s, len);
    j->n += len;
    return true;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t need = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (need == 0 || need > len || !utf8_valid(s, need, false)) return 0;
    return need;
}

/* A JSON string; cut at a character boundary (and marked truncated) when it does not fit. */
static void jstr(jbuf *j, const char *s, size_t len)
{
    if (j->n + 2 > j->lim) {
        j->truncated = true;
        return;
    }
    j->p[j->n++] = '"';
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        char esc[8];
        const char *out = esc;
        size_t olen, adv = 1;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            olen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            olen = 2;
        } else if (c < 0x20) {
            olen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        } else if (c < 0x80) {
            out = s + i;
            olen = 1;
        } else if ((adv = utf8_seq(u + i, len - i)) > 0) {
            out = s + i;
            olen = adv;
        } else {
            out = "\\ufffd"; /* invalid byte: the replacement character, one per byte */
            olen = 6;
            adv = 1;
        }
        if (j->n + olen + 1 > j->lim) {
            j->truncated = true;
            break;
        }
        memcpy(j->p + j->n, out, olen);
        j->n += olen;
        i += adv;
    }
    j->p[j->n++] = '"';
}

/* ,"name": — only when there is room for at least an empty value after it */
static bool jkey(jbuf *j, const char *name)
{
    size_t nl = strlen(name);
    if (j->n + nl + 6 > j->lim) {
        j->truncated = true;
        return false;
    }
    j->p[j->n++] = ',';
    jstr(j, name, nl);
    j->p[j->n++] = ':';
    return true;
}

static void jfield(jbuf *j, const char *name, const char *v, size_t vlen)
{
    if (jkey(j, name)) jstr(j, v, vlen);
}

static void jfield_num(jbuf *j, const char *name, long long v)
{
    char num[24];
    int l = snprintf(num, sizeof num, "%lld", v);
    size_t save = j->n;
    if (jkey(j, name) && !jraw(j, num, (size_t)l)) j->n = save;
}

/* --- key=value parsing ------------------------------------------------------------------ */

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
}

/* Is a "key=" at s? */
static bool key_at(const char *s)
{
    const char *p = s;
    while (key_char(*p))
        p++;
    return p > s && *p == '=';
}

typedef struct {
    const char *k, *v;
    size_t kl, vl;
    bool quoted; /* v holds backslash escapes */
} kv_pair;

/* Splits "a=1 b=\"x y\" c=text with spaces" into pairs. An unquoted value runs to the next
 * " key=" (so "err=address already in use" stays whole); text before any key is kept as a
 * pair with an empty key. Returns the number of pairs. */
static size_t kv_split(const char *s, kv_pair *pairs, size_t max)
{
    size_t n = 0;
    const char *p = s;
    while (*p && n < max) {
        while (*p == ' ')
            p++;
        if (!*p) break;
        kv_pair *kv = &pairs[n++];
        memset(kv, 0, sizeof *kv);
        if (key_at(p)) {
            kv->k = p;
            while (*p != '=')
                p++;
            kv->kl = (size_t)(p - kv->k);
            p++;
        }
        if (*p == '"') {
            kv->v = ++p;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) {
                    kv->quoted = true;
                    p++;
                }
                p++;
            }
            kv->vl = (size_t)(p - kv->v);
            if (*p == '"') p++;
        } else {
            kv->v = p;
            while (*p && !(*p == ' ' && key_at(p + 1)))
                p++;
            const char *e = p;
            while (e > kv->v && e[-1] == ' ')
                e--;
            kv->vl = (size_t)(e - kv->v);
        }
    }
    return n;
}

/* Keys with an ECS field of their own (values are strings). */
static const struct {
    const char *key, *field;
} ecs_keys[] = {
    {"err", "error.message"},   {"error", "error.message"},     {"device", "device.id"},
    {"email", "user.email"},    {"reason", "event.reason"},     {"transport", "network.protocol"},
    {"addr", "server.address"}, {"data_dir", "file.directory"},
};

static bool keyeq(const kv_pair *kv, const char *name)
{
    return kv->kl == strlen(name) && memcmp(kv->k, name, kv->kl) == 0;
}

/* "1.2.3.4:5678" or "[::1]:5678" -> ip, port; returns false if it is neither. */
static bool split_peer(const char *v, size_t vl, const char **ip, size_t *ipl, long *port)
{
    const char *colon = NULL;
    for (size_t i = vl; i > 0; i--) {
        if (v[i - 1] == ':') {
            colon = v + i - 1;
            break;
        }
    }
    if (!colon || colon + 1 == v + vl) return false;
    char digits[8];
    size_t dl = (size_t)(v + vl - colon - 1);
    if (dl >= sizeof digits) return false;
    memcpy(digits, colon + 1, dl);
    digits[dl] = '\0';
    char *end;
    *port = strtol(digits, &end, 10);
    if (*end || *port < 0 || *port > 65535) return false;
    *ip = v;
    *ipl = (size_t)(colon - v);
    if (*ipl >= 2 && v[0] == '[' && colon[-1] == ']') {
        (*ip)++;
        *ipl -= 2;
    }
    return *ipl > 0;
}

static void json_value(jbuf *j, const char *name, const kv_pair *kv)
{
    if (!kv->quoted) {
        jfield(j, name, kv->v, kv->vl);
        return;
    }
    char unesc[KV_MAX];
    size_t n = 0;
    for (size_t i = 0; i < kv->vl && n < sizeof unesc; i++) {
        if (kv->v[i] == '\\' && i + 1 < kv->vl) i++;
        unesc[n++] = kv->v[i];
    }
    jfield(j, name, unesc, n);
}

static size_t format_json(char *out, size_t cap, log_level level, const char *ts, const char *msg,
                          const char *kv)
{
    jbuf j = {out, 0, cap - sizeof jclose_trunc, false};
    jraw(&j, "{\"@timestamp\":", 14);
    jstr(&j, ts, strlen(ts));
    jfield(&j, "log.level", level_names[level], strlen(level_names[level]));
    /* message: the whole event as text, for people reading it in Kibana */
    char text[KV_MAX + 128];
    int tl = snprintf(text, sizeof text, "%s%s%s", msg, kv[0] ? " " : "", kv);
    if (tl < 0) tl = 0;
    if ((size_t)tl >= sizeof text) tl = (int)sizeof text - 1;
    jfield(&j, "message", text, (size_t)tl);
    jfield(&j, "ecs.version", ECS_VERSION, sizeof ECS_VERSION - 1);
    jfield(&j, "service.name", "iotad", 5);
    jfield(&j, "event.action", msg, strlen(msg));
    jfield_num(&j, "process.pid", (long long)getpid());

    kv_pair pairs[48];
    size_t np = kv_split(kv, pairs, sizeof pairs / sizeof pairs[0]);
    const char *used[48]; /* ECS names already written: a second one goes under iotad. */
    size_t nused = 0;
    for (size_t i = 0; i < np; i++) {
        const kv_pair *p = &pairs[i];
        if (p->kl == 0) {
            json_value(&j, "iotad.text", p);
            continue;
        }
        const char *ecs = NULL;
        const char *ip = NULL;
        size_t ipl = 0;
        long port = 0;
        if (keyeq(p, "peer") && split_peer(p->v, p->vl, &ip, &ipl, &port)) {
            ecs = "source.ip";
        } else if (keyeq(p, "pid")) {
            ecs = "process.pid"; /* already written */
        } else {
            for (size_t e = 0; e < sizeof ecs_keys / sizeof ecs_keys[0]; e++)
                if (keyeq(p, ecs_keys[e].key)) ecs = ecs_keys[e].field;
        }
        for (size_t u = 0; ecs && u < nused; u++)
            if (!strcmp(used[u], ecs)) ecs = NULL;
        if (ecs && !strcmp(ecs, "process.pid")) continue;
        if (ecs && !strcmp(ecs, "source.ip")) {
            jfield(&j, "source.ip", ip, ipl);
            jfield_num(&j, "source.port", port);
        } else if (ecs) {
            json_value(&j, ecs, p);
        } else {
            char name[80];
            int nl = snprintf(name, sizeof name, "iotad.%.*s", (int)p->kl, p->k);
            if (nl < 0 || (size_t)nl >= sizeof name) continue;
            json_value(&j, name, p);
        }
        if (ecs) used[nused++] = ecs;
    }
    if (j.truncated) {
        memcpy(out + j.n, jclose_trunc, sizeof jclose_trunc); /* with its NUL */
        return j.n + sizeof jclose_trunc - 1;
    }
    out[j.n++] = '}';
    out[j.n++] = '\n';
    out[j.n] = '\0';
    return j.n;
}

size_t log_format_event(char *out, size_t cap, log_format format, log_level level, int64_t ts_ms,
                        const char *msg, const char *kv)
{
    char ts[32];
    util_rfc3339(ts_ms, ts);
    if (level > LOG_ERROR) level = LOG_ERROR;
    if (format == LOG_FORMAT_JSON) return format_json(out, cap, level, ts, msg, kv);
    int n = snprintf(out, cap, "ts=%s level=%s msg=%s%s%s", ts, level_names[level], msg,
                     kv[0] ? " " : "", kv);
    if (n < 0) n = 0;
    if ((size_t)n > cap - 2) n = (int)cap - 2;
    out[n++] = '\n';
    out[n] = '\0';
    return (size_t)n;
}

static void vwrite_event(int fd, log_level level, int64_t now_ms, uint64_t suppressed,
                         const char *msg, const char *fmt, va_list ap)
{
    char kv[KV_MAX] = "";
    int n = 0;
    if (fmt && fmt[0]) n = vsnprintf(kv, sizeof kv, fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof kv) n = (int)sizeof kv - 1;
    if (suppressed)
        snprintf(kv + n, sizeof kv - (size_t)n, "%ssuppressed=%llu", n ? " " : "",
                 (unsigned long long)suppressed);
    char line[LOG_LINE_MAX];
    size_t len = log_format_event(line, sizeof line, (log_format)atomic_load(&current_format),
                                  level, now_ms, msg, kv);
    ssize_t w = write(fd, line, len);
    (void)w;
}

void log_write(log_level level, const char *msg, const char *fmt, ...)
{
    if ((int)level < atomic_load(&current_level) || level >= LOG_OFF) return;
    int64_t now_ms = util_now_ms();
    uint64_t suppressed = 0;
    if (level >= LOG_WARN && !limit_allows(msg, now_ms, &suppressed)) return;
    va_list ap;
    va_start(ap, fmt);
    vwrite_event(STDERR_FILENO, level, now_ms, suppressed, msg, fmt, ap);
    va_end(ap);
}

void log_write_fd(int fd, log_level level, const char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_event(fd, level, util_now_ms(), 0, msg, fmt, ap);
    va_end(ap);
}
