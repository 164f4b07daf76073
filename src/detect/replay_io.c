/* Replay helpers (see replay_io.h). */
#include "detect/replay_io.h"

#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

size_t replay_split(char *line, char sep, char **fields, size_t max)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *q = strchr(p, sep);
        if (!q) break;
        *q = '\0';
        p = q + 1;
    }
    return n;
}

/* The date-time prefix (and fraction) of s, re-terminated with 'Z', through the RFC 3339 parser
 * in core/util: the data sets write UTC times without a zone designator. */
int replay_parse_time(const char *s, int64_t *out_ms)
{
    char buf[32];
    size_t n = strnlen(s, 19);
    if (n < 19) return -1;
    memcpy(buf, s, 19);
    if (s[19] == '.' && s[20] >= '0' && s[20] <= '9') {
        buf[n++] = '.';
        for (const char *f = s + 20; *f >= '0' && *f <= '9' && n < 29; f++)
            buf[n++] = *f; /* digits past the ninth cannot change the millisecond */
    }
    buf[n++] = 'Z';
    return util_parse_rfc3339(buf, n, out_ms);
}

int replay_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v)) return -1;
    while (*end == ' ')
        end++;
    if (*end != '\0') return -1;
    *out = v;
    return 0;
}

int replay_mkdirs_for(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}
