/* Structured logging: one line per event, "ts=... level=... msg=... key=value ...".
 * The level threshold is process-wide and set once at start-up (log_set_level). */
#ifndef IOTAD_CORE_LOG_H
#define IOTAD_CORE_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 on unknown names. */
int log_level_parse(const char *name, log_level *out);

/* msg is a short constant event name; fmt formats the key=value pairs that follow. */
void log_write(log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_write(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)

#endif
