/* Names for metric labels. Rendering lives in api/api_system.c, next to the endpoint. */
#include "core/metrics.h"

const char *transport_name(transport t)
{
    static const char *const names[] = {"mqtt", "http", "websocket"};
    return t < TRANSPORT_COUNT ? names[t] : "unknown";
}

const char *reject_reason_name(reject_reason r)
{
    static const char *const names[] = {
        "auth",         "acl",       "syntax",      "type",        "nonfinite", "timestamp",
        "metric",       "too_large", "empty",       "unavailable", "too_deep",  "series_limit",
        "rate_limited", "protocol",  "unsupported", "bus_full"};
    return r < REJECT_COUNT ? names[r] : "unknown";
}

const char *bridge_result_name(bridge_result r)
{
    static const char *const names[] = {"ingested", "unknown_device", "bad_topic", "refused"};
    return r < BRIDGE_RESULT_COUNT ? names[r] : "unknown";
}
