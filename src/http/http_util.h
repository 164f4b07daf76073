/* Small pure helpers for HTTP: status texts, percent-decoding, query-string and cookie lookup,
 * comma-separated token lists. No allocation, no I/O; every input carries an explicit length
 * or is a NUL-terminated string produced by the request parser. */
#ifndef IOTAD_HTTP_UTIL_H
#define IOTAD_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Lookup results shared by http_query_param() and http_cookie_lookup(). */
enum {
    HTTP_LOOKUP_OK = 0,
    HTTP_LOOKUP_NOT_FOUND = -1,
    HTTP_LOOKUP_TOO_LONG = -2,  /* value (plus NUL) does not fit in cap */
    HTTP_LOOKUP_MALFORMED = -3, /* bad %-escape or an escaped NUL byte */
};

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes without one. */
const char *http_status_text(int status);

/* Percent-decodes in[0..len) into out (cap bytes including the NUL terminator). With
 * plus_as_space, '+' decodes to ' ' (query strings). Returns the decoded length,
 * HTTP_LOOKUP_TOO_LONG if it does not fit, HTTP_LOOKUP_MALFORMED on a bad escape or %00. */
int http_url_decode(const char *in, size_t len, char *out, size_t cap, bool plus_as_space);

/* Finds parameter `name` in a raw query string ("a=1&b=x%20y"), comparing decoded names.
 * Writes the URL-decoded value (empty for "a" or "a=") to out. The first occurrence wins.
 * Returns HTTP_LOOKUP_OK, _NOT_FOUND, _TOO_LONG or _MALFORMED. */
int http_query_param(const char *query, const char *name, char *out, size_t cap);

/* Finds cookie `name` in one Cookie header value ("a=1; b=\"2\""); surrounding double quotes
 * are removed, no other decoding is applied. Same results as http_query_param(). */
int http_cookie_lookup(const char *cookie_header, const char *name, char *out, size_t cap);

/* True if the comma-separated header value (e.g. Connection: "keep-alive, Upgrade") holds
 * `token`, compared case-insensitively, ignoring surrounding whitespace. */
bool http_token_list_has(const char *value, const char *token);

/* True when an Accept-Encoding header value accepts `coding` ("gzip", "br"): it is listed, or
 * "*" is and it is not listed, with a q-value above 0 ("gzip;q=0" refuses). Case-insensitive;
 * a NULL or empty header accepts nothing (identity only). */
bool http_accepts_encoding(const char *accept_encoding, const char *coding);

/* True when an Origin header value ("https://host[:port]") names the host and port of a Host
 * header value, a missing port being the scheme's default on both sides; host names compare
 * case-insensitively. With tls, only https origins match. "null", other schemes and anything
 * malformed are false. */
bool http_origin_matches(const char *origin, const char *host, bool tls);
/* True when origin is one of a comma/space-separated list of origins ("https://a.example,
 * http://b:8080"); a trailing '/' is ignored on both sides. */
bool http_origin_listed(const char *origin, const char *list);

#endif
