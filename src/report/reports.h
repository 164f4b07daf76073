/* Reports and forensic exports: security, performance and compliance reports (PDF, CSV,
 * JSON), scheduled and on-demand, and streamed forensic exports with a SHA-256 manifest. */
#ifndef IOTAD_REPORT_REPORTS_H
#define IOTAD_REPORT_REPORTS_H

#include <stddef.h>

struct server;

int reports_start(struct server *s); /* scheduler */
void reports_stop(struct server *s);

#endif
