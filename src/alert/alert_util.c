/* See alert_util.h. */
#include "alert/alert_util.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

int alert_severity_rank(const char *sev)
{
    if (!sev) return 0;
    if (strcmp(sev, "critical") == 0) return 3;
    if (strcmp(sev, "warning") == 0) return 2;
    if (strcmp(sev, "info") == 0) return 1;
    return 0;
}

int64_t alert_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd)
{
    if (attempt < 1) attempt = 1;
    if (base_ms < 1) base_ms = 1;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms) d = cap_ms;
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(rnd % (uint64_t)(half + 1)) : 0);
}

void alert_sign(const char *secret, int64_t ts, const char *body, size_t len, char out[65])
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%lld.", (long long)ts);
    uint8_t mac[32];
    size_t maclen = 0;
    out[0] = '\0';
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (c && EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret), params) == 1 &&
        EVP_MAC_update(c, (const unsigned char *)prefix, (size_t)n) == 1 &&
        EVP_MAC_update(c, (const unsigned char *)body, len) == 1 &&
        EVP_MAC_final(c, mac, &maclen, sizeof mac) == 1 && maclen == 32)
        util_hex(mac, 32, out);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
}

bool incident_transition_ok(const char *from, const char *to)
{
    if (!from || !to) return false;
    return (strcmp(from, "new") == 0 && strcmp(to, "investigating") == 0) ||
           (strcmp(from, "investigating") == 0 && strcmp(to, "resolved") == 0) ||
           (strcmp(from, "resolved") == 0 && strcmp(to, "investigating") == 0);
}
