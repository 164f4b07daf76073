/* See utf8.h. ASCII runs are skipped eight bytes at a time. */
#include "core/utf8.h"

#include <string.h>

#define HIGH_BITS 0x8080808080808080ULL
#define LOW_BITS 0x0101010101010101ULL

bool utf8_valid(const uint8_t *s, size_t len, bool allow_nul)
{
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            bool ascii = !(v & HIGH_BITS);
            bool has_nul = ((v - LOW_BITS) & ~v & HIGH_BITS) != 0;
            if (ascii && (allow_nul || !has_nul)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0 && !allow_nul) return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead (C0/C1) or > U+10FFFF lead */
        }
        if (len - i - 1 < n) return false;
        for (size_t k = 1; k <= n; k++) {
            uint8_t b = s[i + k];
            if ((b & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3F);
        }
        if (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        i += n + 1;
    }
    return true;
}
