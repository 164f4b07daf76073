/* Structured logging: one line per event. Two formats, chosen once at start-up:
 *   logfmt (default)  ts=... level=... msg=... key=value ...
 *   json              one JSON object per line with Elastic Common Schema field names
 *                     (@timestamp, log.level, message, event.action, source.ip, ...), for
 *                     Filebeat / Elasticsearch and other JSON log collectors.
 * The level threshold and the format are process-wide and set once at start-up. */
#ifndef IOTAD_CORE_LOG_H
#define IOTAD_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;
typedef enum { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON } log_format;

void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 on unknown names. */
int log_level_parse(const char *name, log_level *out);

void log_set_format(log_format format);
log_format log_get_format(void);
/* Parses "logfmt|json"; returns -1 on unknown names. */
int log_format_parse(const char *name, log_format *out);

/* msg is a short constant event name; fmt formats the key=value pairs that follow (values
 * with spaces in double quotes). Written to stderr with one write(2), so lines from
 * different threads never interleave. */
void log_write(log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same event written to fd whatever the level threshold: console notices that must be
 * seen once (the generated first Admin password), in the configured format. */
void log_write_fd(int fd, log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Formats one event as a NUL-terminated line ending in '\n' into out (cap bytes, at
 * least 64); returns the line's length. kv is the event's "key=value ..." text. A JSON line
 * is always a complete object: values that do not fit are cut at a character boundary and
 * the object gets "log.truncated": true. Exposed for tests. */
size_t log_format_event(char *out, size_t cap, log_format format, log_level level, int64_t ts_ms,
                        const char *msg, const char *kv);

#define log_debug(msg, ...) log_write(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)

#endif
