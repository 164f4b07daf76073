/* Alerts and incidents: notification channels (email, SMS, webhook), alert policies and the
 * durable outbox, and the incident workflow. The server calls these hooks; the tables are
 * created by store/schema.c, the HTTP handlers are api/api_alerts.c and api/api_incidents.c. */
#ifndef IOTAD_ALERT_ALERTS_H
#define IOTAD_ALERT_ALERTS_H

#include <stddef.h>

struct server;
struct server_secrets;
struct store;

/* Starts delivery (outbox worker) after the store is open; 0 ok. */
int alerts_start(struct server *s);
/* Stops delivery; pending alerts stay in the outbox for the next start. */
void alerts_stop(struct server *s);
/* A new anomaly episode was stored (loop thread): apply alert and incident policies. */
void alerts_on_anomaly(struct server *s, const char *anomaly_id);
/* Seals every channel secret with the key that seals now (plaintext ones from before
 * encryption, and ones sealed with an older key), in one transaction. *count gets the number
 * re-sealed. 0 ok; -1 error, nothing changed (bad gets the channel whose secret no key of the
 * file opens, or "" for a database error). */
int alert_secrets_reseal(struct store *db, const struct server_secrets *ops, int *count, char *bad,
                         size_t badcap);
/* An anomaly was resolved (loop thread): each open incident linked to it that has no open
 * anomaly left is resolved too, by actor (a user id or "system"), so no incident stays open
 * (counted, escalated) with nothing open in it. Its verdict: false_positive when every linked
 * anomaly was judged so, else confirmed when one was. Timeline, audit and broadcast as for a
 * move made by hand. */
void alerts_on_anomaly_resolved(struct server *s, const char *anomaly_id, const char *actor);
/* Prometheus text of the module's counters and outbox/incident gauges (loop thread), for
 * /metrics. *out is malloc'ed, caller frees; 0 ok, -1 when the module is not running. */
int alerts_metrics_text(struct server *s, char **out);

#endif
