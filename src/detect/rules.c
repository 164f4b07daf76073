/* Threshold rules (see rules.h). A rule fires once when its condition has held long enough and
 * clears once when it stops holding, so the caller gets one event per episode, not per point. */
#include "detect/rules.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[DET_RULE_KIND_COUNT] = {"above", "below", "rate", "stale"};

int det_rule_validate(const det_rule *r)
{
    if ((unsigned)r->kind >= DET_RULE_KIND_COUNT) return -1;
    if (r->severity < DET_LEVEL_INFO || r->severity > DET_LEVEL_CRITICAL) return -1;
    if (!isfinite(r->threshold) || r->for_ms < 0) return -1;
    if (r->kind == DET_RULE_STALE && r->for_ms == 0) return -1;
    if (r->kind == DET_RULE_RATE && r->threshold < 0) return -1;
    return 0;
}

void det_rule_state_init(det_rule_state *st)
{
    memset(st, 0, sizeof *st);
}

static det_rule_event transition(det_rule_state *st, int firing)
{
    if (firing == st->firing) return DET_RULE_QUIET;
    st->firing = (uint8_t)firing;
    return firing ? DET_RULE_FIRED : DET_RULE_CLEARED;
}

det_rule_event det_rule_eval(const det_rule *r, det_rule_state *st, int64_t ts_ms, double x)
{
    if (!isfinite(x)) return DET_RULE_QUIET;
    int cond = 0;
    switch (r->kind) {
    case DET_RULE_ABOVE:
    case DET_RULE_BELOW:
        cond = r->kind == DET_RULE_ABOVE ? x > r->threshold : x < r->threshold;
        if (cond && !st->holding) st->since_ms = ts_ms;
        st->holding = (uint8_t)cond;
        cond = cond && ts_ms - st->since_ms >= r->for_ms;
        break;
    case DET_RULE_RATE:
        if (st->has_last && ts_ms > st->last_ts) {
            double rate = fabs(x - st->last_x) * 1000.0 / (double)(ts_ms - st->last_ts);
            cond = rate > r->threshold;
        } else if (st->has_last) {
            cond = st->firing; /* same timestamp: no new information */
        }
        break;
    case DET_RULE_STALE:
        cond = 0; /* a point arrived: the series is live */
        break;
    default:
        return DET_RULE_QUIET;
    }
    st->last_ts = ts_ms;
    st->last_x = x;
    st->has_last = 1;
    return transition(st, cond);
}

det_rule_event det_rule_tick(const det_rule *r, det_rule_state *st, int64_t now_ms)
{
    if (r->kind != DET_RULE_STALE || !st->has_last) return DET_RULE_QUIET;
    return now_ms - st->last_ts > r->for_ms ? transition(st, 1) : DET_RULE_QUIET;
}

int det_rule_kind_parse(const char *name, det_rule_kind *out)
{
    for (int i = 0; i < DET_RULE_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (det_rule_kind)i;
            return 0;
        }
    return -1;
}

const char *det_rule_kind_name(det_rule_kind kind)
{
    return (unsigned)kind < DET_RULE_KIND_COUNT ? kind_names[kind] : "?";
}
