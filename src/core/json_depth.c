/* See json_depth.h. One pass, no allocation: a depth counter and a flag for "inside a string". */
#include "core/json_depth.h"

int json_depth_check(const char *buf, size_t len, int max_depth, size_t *offset)
{
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '"') {
            /* skip the string: a backslash escapes the next byte, whatever it is */
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\') i++;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                if (offset) *offset = i;
                return -1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}
