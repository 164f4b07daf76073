/* Helpers shared by the replay formats: CSV field splitting, timestamp parsing, paths. */
#ifndef IOTAD_DETECT_REPLAY_IO_H
#define IOTAD_DETECT_REPLAY_IO_H

#include "detect/detector.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REPLAY_MAX_COLS 32

typedef struct {
    det_params params;
    uint64_t seed;
    unsigned train_rows; /* SKAB: rows of each file usable as training (the protocol's 400) */
    int quiet;
} replay_opts;

/* Splits line (modified in place: separators become NULs, the line end is stripped) into at most
 * max fields; returns the number of fields. */
size_t replay_split(char *line, char sep, char **fields, size_t max);
/* "YYYY-MM-DD[ T]HH:MM:SS[.fff]" (UTC) to ms since the epoch; 0 ok, -1 invalid. */
int replay_parse_time(const char *s, int64_t *out_ms);
/* strtod over the whole field; 0 ok, -1 if not a finite number. */
int replay_parse_double(const char *s, double *out);
/* mkdir -p of the directory part of path; 0 ok. */
int replay_mkdirs_for(const char *path);

/* One file of each format; 0 ok, negative on error (logged to stderr). */
int replay_nab_file(const replay_opts *o, const char *in, const char *out);
int replay_skab_file(const replay_opts *o, const char *in, const char *out);

#endif
