/* Streamed forensic exports over HTTP (chunked, with a SHA-256 manifest at the end): the
 * handler side of report/export.c. */
#ifndef IOTAD_API_API_EXPORT_H
#define IOTAD_API_API_EXPORT_H

#include "api/api_ctx.h"
#include "report/export.h"

/* Starts a streamed export for a validated request (answers it, errors included). */
void api_export_start(api_ctx *ctx, const export_params *p, const char *params_json);
void api_export_sweep(server *s);    /* ends streams whose client went away (1 s tick) */
void api_export_stop_all(server *s); /* server stopping: ends every stream */

#endif
