/* The composition root: creates every module in dependency order and wires their callbacks
 * (the layers below never name the ones above them; see docs/design.md, "Layers"). */
#ifndef IOTAD_SERVER_H
#define IOTAD_SERVER_H

#include "core/server.h"

/* Opens the store, runs migrations, creates the first Admin, starts listeners and threads. */
int server_start(server *s, const config *cfg, uv_loop_t *loop);
/* Graceful stop: stop accepting, drain ingest (every acknowledged point is committed), close. */
void server_stop(server *s);
/* Frees what server_start allocated; call after the loop has returned. */
void server_destroy(server *s);
/* Secrets at rest with these keys (auth/secretbox), for s->secrets and `iotad secrets rotate`. */
void server_secrets_wire(struct iotad_keys_s *keys, server_secrets *out);

#endif
