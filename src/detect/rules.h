/* Threshold rules, evaluated per series with a small per-rule state: static thresholds (above /
 * below a value for at least for_ms), rate of change (|dx/dt| above a limit, per second) and stale
 * data (no point for for_ms). Pure: the server loads det_rule rows from the database, keeps a
 * det_rule_state per (rule, series), calls det_rule_eval on every point and det_rule_tick from a
 * timer (for staleness). An event is raised when a rule starts firing and when it clears. */
#ifndef IOTAD_DETECT_RULES_H
#define IOTAD_DETECT_RULES_H

#include "detect/series.h"

#include <stdint.h>

typedef enum {
    DET_RULE_ABOVE = 0, /* x > threshold for at least for_ms */
    DET_RULE_BELOW,     /* x < threshold for at least for_ms */
    DET_RULE_RATE,      /* |x - previous x| / seconds between them > threshold */
    DET_RULE_STALE,     /* no point for more than for_ms (checked by det_rule_tick) */
    DET_RULE_KIND_COUNT
} det_rule_kind;

typedef struct {
    uint64_t id;
    det_rule_kind kind;
    det_level severity; /* INFO, WARNING or CRITICAL */
    double threshold;
    int64_t for_ms; /* ABOVE/BELOW: hold time (0 = at once); STALE: allowed silence */
} det_rule;

typedef struct {
    int64_t since_ms; /* when the condition started to hold */
    int64_t last_ts;
    double last_x;
    uint8_t holding, firing, has_last, pad;
} det_rule_state;

typedef enum {
    DET_RULE_QUIET = 0, /* no change */
    DET_RULE_FIRED,     /* the rule started firing at this point */
    DET_RULE_CLEARED,   /* the rule stopped firing */
} det_rule_event;

/* 0 ok; -1 if the kind/severity is unknown, the threshold is not finite or for_ms < 0 (and for
 * STALE, for_ms == 0). */
int det_rule_validate(const det_rule *r);
void det_rule_state_init(det_rule_state *st);
det_rule_event det_rule_eval(const det_rule *r, det_rule_state *st, int64_t ts_ms, double x);
/* Time passes without points (call periodically): fires STALE rules; others stay QUIET. */
det_rule_event det_rule_tick(const det_rule *r, det_rule_state *st, int64_t now_ms);
/* "above" | "below" | "rate" | "stale" (for the database and the API); -1 unknown. */
int det_rule_kind_parse(const char *name, det_rule_kind *out);
const char *det_rule_kind_name(det_rule_kind kind);

#endif
