/* Webhook channel: the alert payload as a JSON POST. Receivers deduplicate with the
 * Idempotency-Key (the alert id, the same on every retry) and authenticate with
 * X-Iotad-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, rejecting
 * old timestamps to stop replays. Any 2xx is a delivery. */
#include "alert/alert_util.h"
#include "alert/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int alert_webhook_setup(alert_job *j, int64_t now_s, char *err, size_t errcap)
{
    j->body = strdup(j->payload);
    if (!j->body) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    j->body_len = strlen(j->body);
    char line[256];
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    snprintf(line, sizeof line, "Idempotency-Key: %s", j->id);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "X-Iotad-Event: alert");
    snprintf(line, sizeof line, "X-Iotad-Delivery-Attempt: %d", j->attempt);
    h = curl_slist_append(h, line);
    if (j->secret[0]) {
        char sig[65];
        alert_sign(j->secret, now_s, j->body, j->body_len, sig);
        snprintf(line, sizeof line, "X-Iotad-Signature: t=%lld,v1=%s", (long long)now_s, sig);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Expect:");
    if (!h) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    j->headers = h;
    curl_easy_setopt(j->h, CURLOPT_URL, j->url);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    return 0;
}
