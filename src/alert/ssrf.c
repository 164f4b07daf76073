/* See ssrf.h. Classification by prefix tables over the 16-byte form, so IPv4, IPv4-mapped
 * IPv6 and IPv6 share one code path. alert_own_load is the one function here with I/O. */
#include "alert/ssrf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
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

/* The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and updates), every
 * entry refused, even the few the registry marks globally reachable (AS112, AMT anycast):
 * no alert receiver lives there. More specific entries come first. */
static const special_net specials[] = {
    {"0.0.0.0", 8, "unspecified"},
    {"10.0.0.0", 8, "private"},
    {"100.64.0.0", 10, "cgnat"},
    {"127.0.0.0", 8, "loopback"},
    {"169.254.0.0", 16, "link_local"},
    {"172.16.0.0", 12, "private"},
    {"192.0.0.0", 24, "reserved"},
    {"192.0.2.0", 24, "documentation"},
    {"192.31.196.0", 24, "reserved"}, /* AS112-v4 */
    {"192.52.193.0", 24, "reserved"}, /* AMT */
    {"192.88.99.0", 24, "reserved"},  /* deprecated 6to4 relay anycast */
    {"192.168.0.0", 16, "private"},
    {"192.175.48.0", 24, "reserved"}, /* AS112 direct delegation */
    {"198.18.0.0", 15, "benchmark"},
    {"198.51.100.0", 24, "documentation"},
    {"203.0.113.0", 24, "documentation"},
    {"224.0.0.0", 4, "multicast"},
    {"240.0.0.0", 4, "reserved"}, /* includes 255.255.255.255 */
    {"::", 128, "unspecified"},
    {"::1", 128, "loopback"},
    {"::ffff:0:0:0", 96, "reserved"}, /* IPv4-translated (RFC 2765) */
    {"64:ff9b:1::", 48, "nat64"},     /* local-use NAT64 (RFC 8215) */
    {"100::", 64, "discard"},
    {"2001::", 23, "reserved"}, /* IETF protocol assignments: Teredo, ORCHID, ... */
    {"2001:db8::", 32, "documentation"},
    {"2620:4f:8000::", 48, "reserved"}, /* AS112-v6 */
    {"3fff::", 20, "documentation"},
    {"5f00::", 16, "reserved"}, /* SRv6 SIDs */
    {"fc00::", 7, "private"},
    {"fe80::", 10, "link_local"},
    {"fec0::", 10, "private"}, /* deprecated site-local */
    {"ff00::", 8, "multicast"},
};

/* Forms that carry an IPv4 address inside an IPv6 one: the embedded address is judged, so a
 * private IPv4 target cannot hide behind them. offset = byte of the embedded address. */
typedef struct {
    uint8_t net[16];
    int prefix;
    int offset;
} embed_form;

static const embed_form embeds[] = {
    {{0}, 96, 12},                      /* ::a.b.c.d (IPv4-compatible) */
    {{0x00, 0x64, 0xff, 0x9b}, 96, 12}, /* 64:ff9b::a.b.c.d (NAT64) */
    {{0x20, 0x02}, 16, 2},              /* 2002:aabb:ccdd::/48 (6to4) */
};

static const char *class_of(const uint8_t addr[16], int depth)
{
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        uint8_t net[16];
        if (alert_addr_parse(specials[i].net, net) != 0) continue;
        bool v4 = strchr(specials[i].net, ':') == NULL;
        if (in_prefix(addr, net, v4 ? 96 + specials[i].prefix : specials[i].prefix))
            return specials[i].why;
    }
    if (depth > 0) return NULL;
    for (size_t i = 0; i < sizeof embeds / sizeof embeds[0]; i++) {
        if (!in_prefix(addr, embeds[i].net, embeds[i].prefix)) continue;
        uint8_t m[16];
        memcpy(m, v4mapped, 12);
        memcpy(m + 12, addr + embeds[i].offset, 4);
        return class_of(m, depth + 1);
    }
    return NULL;
}

const char *alert_addr_class(const uint8_t addr[16])
{
    return class_of(addr, 0);
}

int alert_own_load(alert_own *out)
{
    out->n = 0;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return -1;
    for (struct ifaddrs *i = ifs; i && out->n < ALERT_OWN_MAX; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        uint8_t *a = out->addr[out->n];
        if (i->ifa_addr->sa_family == AF_INET) {
            memcpy(a, v4mapped, 12);
            memcpy(a + 12, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            memcpy(a, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        out->n++;
    }
    freeifaddrs(ifs);
    return 0;
}

const char *alert_dest_class(const alert_own *own, const uint8_t addr[16])
{
    const char *cls = alert_addr_class(addr);
    if (cls || !own) return cls;
    for (size_t i = 0; i < own->n; i++)
        if (memcmp(own->addr[i], addr, 16) == 0) return "own_address";
    return NULL;
}

bool alert_addr_permitted(const alert_allow *allow, const alert_own *own, const uint8_t addr[16],
                          const char **why)
{
    const char *cls = alert_dest_class(own, addr);
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
