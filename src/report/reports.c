/* Placeholder until the reports module lands. */
#include "report/reports.h"

#include "api/api.h"

const char *report_schema_sql(void)
{
    return "";
}

const struct api_route *report_routes(size_t *count)
{
    *count = 0;
    return NULL;
}

int reports_start(struct server *s)
{
    (void)s;
    return 0;
}

void reports_stop(struct server *s)
{
    (void)s;
}
