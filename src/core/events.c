/* The event sink; see events.h. A fixed array of listeners: subscribing happens once at start,
 * emitting on every durable batch, so emitting is a loop over at most EV_MAX_LISTENERS. */
#include "core/events.h"

int ev_subscribe(ev_sink *sink, const ev_listener *l)
{
    if (!l->on_event || sink->n >= EV_MAX_LISTENERS) return -1;
    sink->l[sink->n++] = *l;
    return 0;
}

static bool listener_wants(const ev_listener *l, ev_type t)
{
    return !l->wants || l->wants(l->arg, t);
}

bool ev_wanted(const ev_sink *sink, ev_type t)
{
    for (int i = 0; sink && i < sink->n; i++)
        if (listener_wants(&sink->l[i], t)) return true;
    return false;
}

void ev_emit(const ev_sink *sink, const ev_event *e)
{
    for (int i = 0; sink && i < sink->n; i++)
        if (listener_wants(&sink->l[i], e->type)) sink->l[i].on_event(sink->l[i].arg, e);
}

const char *ev_type_name(ev_type t)
{
    static const char *const names[EV_TYPE_COUNT] = {"points", "device_status", "anomaly", "alert",
                                                     "incident"};
    return (unsigned)t < EV_TYPE_COUNT ? names[t] : "unknown";
}
