/* See ssrf.h. Classification by prefix tables over the 16-byte form, so IPv4, IPv4-mapped
 * IPv6 and IPv6 share one code path. */
#include "alert/ssrf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int alert_addr_parse(const char *text, uint8_t out[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memcpy(out, v4mapped, 12);
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(out, &a6, 16);
        return 0;
    }
    return -1;
}

static bool in_prefix(const uint8_t *addr, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(addr, net, (size_t)full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (net[full] & mask);
}

typedef struct {
    const char *net;
    int prefix; /* of the textual family: IPv4 bits for IPv4 entries */
    const char *why;
} special_net;

static const special_net specials[] = {
    {"0.0.0.0", 8, "unspecified"},     {"10.0.0.0", 8, "private"},
    {"100.64.0.0", 10, "cgnat"},       {"127.0.0.0", 8, "loopback"},
    {"169.254.0.0", 16, "link_local"}, {"172.16.0.0", 12, "private"},
    {"192.0.0.0", 24, "reserved"},     {"192.168.0.0", 16, "private"},
    {"198.18.0.0", 15, "benchmark"},   {"224.0.0.0", 4, "multicast"},
    {"240.0.0.0", 4, "reserved"},      {"::", 128, "unspecified"},
    {"::1", 128, "loopback"},          {"fc00::", 7, "private"},
    {"fe80::", 10, "link_local"},      {"ff00::", 8, "multicast"},
    {"64:ff9b::", 96, "nat64"},        {"2001:db8::", 32, "documentation"},
};

const char *alert_addr_class(const uint8_t addr[16])
{
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        uint8_t net[16];
        if (alert_addr_parse(specials[i].net, net) != 0) continue;
        bool v4 = strchr(specials[i].net, ':') == NULL;
        if (in_prefix(addr, net, v4 ? 96 + specials[i].prefix : specials[i].prefix))
            return specials[i].why;
    }
    /* IPv4-compatible (::a.b.c.d, deprecated) and mapped forms hide IPv4 targets: judge the
     * embedded address (mapped addresses were already matched above). */
    static const uint8_t zero12[12] = {0};
    if (memcmp(addr, zero12, 12) == 0) {
        uint8_t m[16];
        memcpy(m, v4mapped, 12);
        memcpy(m + 12, addr + 12, 4);
        return alert_addr_class(m);
    }
    return NULL;
}

bool alert_addr_permitted(const alert_allow *allow, const uint8_t addr[16], const char **why)
{
    const char *cls = alert_addr_class(addr);
    if (!cls) return true;
    if (allow) {
        if (allow->allow_private) return true;
        for (size_t i = 0; i < allow->n; i++)
            if (in_prefix(addr, allow->nets[i].addr, allow->nets[i].prefix)) return true;
    }
    if (why) *why = cls;
    return false;
}

int alert_allow_parse(const char *list, alert_allow *out)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        char item[80];
        if (len >= sizeof item || out->n >= ALERT_ALLOW_MAX) return -1;
        memcpy(item, start, len);
        item[len] = '\0';
        char *slash = strchr(item, '/');
        int prefix = -1;
        if (slash) {
            *slash = '\0';
            char *end;
            long v = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || v < 0 || v > 128) return -1;
            prefix = (int)v;
        }
        alert_net *n = &out->nets[out->n];
        if (alert_addr_parse(item, n->addr) != 0) return -1;
        bool v4 = strchr(item, ':') == NULL;
        if (prefix < 0) prefix = v4 ? 32 : 128;
        if (v4 && prefix > 32) return -1;
        n->prefix = v4 ? 96 + prefix : prefix;
        out->n++;
    }
    return 0;
}

void alert_host_unbracket(const char *host, char *out, size_t cap)
{
    size_t hl = strlen(host);
    if (host[0] == '[' && hl >= 2 && hl - 2 < cap) {
        memcpy(out, host + 1, hl - 2);
        out[hl - 2] = '\0';
    } else {
        snprintf(out, cap, "%s", host);
    }
}
