/* Pure helpers of the alerts module, kept apart so they can be unit-tested: severity order,
 * retry backoff, the webhook signature and the incident state machine. */
#ifndef IOTAD_ALERT_ALERT_UTIL_H
#define IOTAD_ALERT_ALERT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* info 1, warning 2, critical 3; 0 for anything else. */
int alert_severity_rank(const char *sev);
/* Delay before retry number `attempt` (1 = after the first failure): base * 2^(attempt-1)
 * capped at cap, with "equal jitter" (half fixed, half random from rnd). */
int64_t alert_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd);
/* Webhook signature: hex HMAC-SHA256(secret, "<ts>.<body>"); the header carries
 * "t=<ts>,v1=<hex>". out has 65 bytes. */
void alert_sign(const char *secret, int64_t ts, const char *body, size_t len, char out[65]);
/* Incident status machine: new -> investigating -> resolved, resolved -> investigating
 * (reopen). Everything else, including staying put, is refused. */
bool incident_transition_ok(const char *from, const char *to);

#endif
