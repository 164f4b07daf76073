/* Placeholder until the alerts module lands. */
#include "alert/alerts.h"

#include "api/api.h"

const char *alert_schema_sql(void)
{
    return "";
}

const struct api_route *alert_routes(size_t *count)
{
    *count = 0;
    return NULL;
}

int alerts_start(struct server *s)
{
    (void)s;
    return 0;
}

void alerts_stop(struct server *s)
{
    (void)s;
}

void alerts_on_anomaly(struct server *s, const char *anomaly_id)
{
    (void)s;
    (void)anomaly_id;
}
