/* UTF-8 validation as RFC 3629 defines it (no overlongs, no surrogates, nothing above
 * U+10FFFF), shared by the WebSocket and MQTT codecs. */
#ifndef IOTAD_CORE_UTF8_H
#define IOTAD_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* allow_nul: whether U+0000 is acceptable (WebSocket text: yes; MQTT strings: no). */
bool utf8_valid(const uint8_t *s, size_t len, bool allow_nul);

#endif
