/* Outbound address policy for alert deliveries (SSRF defence). A destination is refused when
 * any of its addresses is in the IANA special-purpose registries (loopback, private RFC 1918
 * and ULA, carrier-grade NAT, link-local, which covers the 169.254.169.254 cloud metadata
 * service, documentation, benchmarking, multicast, broadcast, unspecified, ...), when an IPv6
 * form carries such an IPv4 address (IPv4-mapped, -compatible, NAT64, 6to4), or when it is
 * one of the host's own interface addresses, unless it falls in an explicit allow-list of
 * networks. Addresses are handled in a 16-byte IPv6 form; IPv4 is mapped (::ffff:a.b.c.d).
 * Pure functions except alert_own_load (getifaddrs). */
#ifndef IOTAD_ALERT_SSRF_H
#define IOTAD_ALERT_SSRF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERT_ALLOW_MAX 32
#define ALERT_OWN_MAX 64

typedef struct {
    uint8_t addr[16];
    int prefix; /* in bits of the 128-bit form */
} alert_net;

typedef struct {
    alert_net nets[ALERT_ALLOW_MAX];
    size_t n;
    bool allow_private; /* every non-public address allowed (tests, closed networks) */
} alert_allow;

/* The host's own interface addresses (every family we can connect to). */
typedef struct {
    uint8_t addr[ALERT_OWN_MAX][16];
    size_t n;
} alert_own;

/* Parses "a.b.c.d[/n], x::y[/n], ..." (commas or spaces) into out (appending).
 * 0 ok, -1 on a malformed entry or too many entries. */
int alert_allow_parse(const char *list, alert_allow *out);
/* Parses one textual address into the 16-byte form; 0 ok, -1 invalid. */
int alert_addr_parse(const char *text, uint8_t out[16]);
/* A URL host without the brackets of an IPv6 literal ("[::1]" -> "::1"), into out[cap]. */
void alert_host_unbracket(const char *host, char *out, size_t cap);
/* Why an address is not public: "loopback", "private", "link_local", "documentation", ...
 * or NULL if public. */
const char *alert_addr_class(const uint8_t addr[16]);
/* Reads the host's interface addresses (getifaddrs) into out; 0 ok, -1 error (out->n = 0). */
int alert_own_load(alert_own *out);
/* alert_addr_class, else "own_address" when addr is in own (which may be NULL). */
const char *alert_dest_class(const alert_own *own, const uint8_t addr[16]);
/* True if the address may be contacted (own may be NULL); *why gets the refusal reason
 * otherwise. The allow-list admits any class, own addresses included. */
bool alert_addr_permitted(const alert_allow *allow, const alert_own *own, const uint8_t addr[16],
                          const char **why);

#endif
