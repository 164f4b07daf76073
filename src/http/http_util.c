/* HTTP string helpers: status reason phrases (from http_parser's table), percent-decoding,
 * query-string parameters, cookies and comma-separated token lists. Everything works on
 * explicit lengths and never writes past the caller's capacity. */
#include "http/http_util.h"

#include <http_parser.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

const char *http_status_text(int status)
{
    switch (status) {
#define XX(num, name, string)                                                                      \
    case num:                                                                                      \
        return #string;
        HTTP_STATUS_MAP(XX)
#undef XX
    default:
        return "Unknown";
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int http_url_decode(const char *in, size_t len, char *out, size_t cap, bool plus_as_space)
{
    if (cap == 0) return HTTP_LOOKUP_TOO_LONG;
    if (cap > INT_MAX) cap = INT_MAX;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (len - i < 3) return HTTP_LOOKUP_MALFORMED;
            int hi = hex_val(in[i + 1]), lo = hex_val(in[i + 2]);
            if (hi < 0 || lo < 0) return HTTP_LOOKUP_MALFORMED;
            c = (char)(hi * 16 + lo);
            if (c == '\0') return HTTP_LOOKUP_MALFORMED;
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        } else if (c == '\0') {
            return HTTP_LOOKUP_MALFORMED;
        }
        if (o + 1 >= cap) return HTTP_LOOKUP_TOO_LONG;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

int http_query_param(const char *query, const char *name, char *out, size_t cap)
{
    if (!query || !name) return HTTP_LOOKUP_NOT_FOUND;
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t seg_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', seg_len);
        size_t key_len = eq ? (size_t)(eq - p) : seg_len;
        /* Compare the decoded key; a key longer than 3x the name cannot decode to it. */
        if (key_len > 0 && key_len <= 3 * name_len + 3) {
            char key[256];
            int kl = key_len < sizeof key ? http_url_decode(p, key_len, key, sizeof key, true)
                                          : HTTP_LOOKUP_TOO_LONG;
            if (kl >= 0 && (size_t)kl == name_len && memcmp(key, name, name_len) == 0) {
                const char *val = eq ? eq + 1 : p + seg_len;
                size_t val_len = eq ? seg_len - key_len - 1 : 0;
                int r = http_url_decode(val, val_len, out, cap, true);
                return r < 0 ? r : HTTP_LOOKUP_OK;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    return HTTP_LOOKUP_NOT_FOUND;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_cookie_lookup(const char *cookie_header, const char *name, char *out, size_t cap)
{
    if (!cookie_header || !name) return HTTP_LOOKUP_NOT_FOUND;
    size_t name_len = strlen(name);
    const char *p = cookie_header;
    while (*p) {
        while (is_ows(*p) || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t seg_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', seg_len);
        if (eq) {
            size_t key_len = (size_t)(eq - p);
            while (key_len > 0 && is_ows(p[key_len - 1]))
                key_len--;
            if (key_len == name_len && memcmp(p, name, name_len) == 0) {
                const char *v = eq + 1;
                size_t vlen = seg_len - (size_t)(v - p);
                while (vlen > 0 && is_ows(*v)) {
                    v++;
                    vlen--;
                }
                while (vlen > 0 && is_ows(v[vlen - 1]))
                    vlen--;
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                    v++;
                    vlen -= 2;
                }
                if (vlen + 1 > cap) return HTTP_LOOKUP_TOO_LONG;
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return HTTP_LOOKUP_OK;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    return HTTP_LOOKUP_NOT_FOUND;
}

bool http_token_list_has(const char *value, const char *token)
{
    if (!value || !token) return false;
    size_t tlen = strlen(token);
    const char *p = value;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && is_ows(end[-1]))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0) return true;
    }
    return false;
}

/* q-value of one Accept-Encoding element's parameters (";q=0.5"); 1 when absent; -1 when
 * malformed (the element is then ignored, as if absent). */
static double accept_q(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ';'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            double q = 0, scale = 0;
            bool digits = false;
            for (; p < end && !is_ows(*p) && *p != ';'; p++) {
                if (*p >= '0' && *p <= '9') {
                    digits = true;
                    if (scale == 0)
                        q = q * 10 + (*p - '0');
                    else {
                        q += (*p - '0') * scale;
                        scale /= 10;
                    }
                } else if (*p == '.' && scale == 0) {
                    scale = 0.1;
                } else {
                    return -1;
                }
            }
            return digits && q <= 1 ? q : -1;
        }
        while (p < end && *p != ';')
            p++;
    }
    return 1;
}

bool http_accepts_encoding(const char *accept_encoding, const char *coding)
{
    if (!accept_encoding || !coding) return false;
    size_t clen = strlen(coding);
    double named = -1, star = -1;
    const char *p = accept_encoding;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';' && !is_ows(*p))
            p++;
        const char *tok_end = p;
        while (*p && *p != ',')
            p++;
        double q = accept_q(tok_end, p);
        size_t tlen = (size_t)(tok_end - start);
        if (q < 0 || tlen == 0) continue;
        if (tlen == clen && strncasecmp(start, coding, clen) == 0)
            named = q;
        else if (tlen == 1 && *start == '*')
            star = q;
    }
    return named >= 0 ? named > 0 : star > 0;
}

/* Splits "host[:port]" (or "[v6]:port") at the port; returns the host length and the port
 * (def when absent), or -1 when malformed. */
static long split_host_port(const char *s, size_t len, long def, size_t *host_len)
{
    size_t hl = len;
    const char *colon = NULL;
    if (len && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb) return -1;
        hl = (size_t)(rb - s) + 1;
        if (hl < len) {
            if (s[hl] != ':') return -1;
            colon = s + hl;
        }
    } else {
        colon = memchr(s, ':', len);
        if (colon) hl = (size_t)(colon - s);
    }
    if (hl == 0) return -1;
    *host_len = hl;
    if (!colon) return def;
    long port = 0;
    const char *p = colon + 1, *end = s + len;
    if (p == end || end - p > 5) return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

bool http_origin_matches(const char *origin, const char *host, bool tls)
{
    if (!origin || !host) return false;
    long def;
    const char *rest;
    if (strncasecmp(origin, "https://", 8) == 0) {
        def = 443;
        rest = origin + 8;
    } else if (strncasecmp(origin, "http://", 7) == 0 && !tls) {
        def = 80;
        rest = origin + 7;
    } else {
        return false; /* "null", other schemes, http:// to a TLS listener */
    }
    size_t rl = strlen(rest), hl = strlen(host);
    if (rl && rest[rl - 1] == '/') rl--;
    size_t oh, hh;
    long op = split_host_port(rest, rl, def, &oh);
    long hp = split_host_port(host, hl, def, &hh);
    return op > 0 && op == hp && oh == hh && strncasecmp(rest, host, oh) == 0;
}

bool http_origin_listed(const char *origin, const char *list)
{
    if (!origin || !list) return false;
    size_t ol = strlen(origin);
    if (ol && origin[ol - 1] == '/') ol--;
    const char *p = list;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && !is_ows(*p))
            p++;
        size_t n = (size_t)(p - start);
        if (n && start[n - 1] == '/') n--;
        if (n && n == ol && strncasecmp(start, origin, n) == 0) return true;
    }
    return false;
}
