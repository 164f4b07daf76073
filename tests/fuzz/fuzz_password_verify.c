/* libFuzzer driver for auth_password_verify: arbitrary encoded-hash strings (and the password
 * that follows the first newline) must never crash, leak or read out of bounds. Inputs whose
 * parsed cost is expensive only go through the parser (auth_password_inspect runs the same
 * code as verify's parse step), so one run stays in microseconds. */
#include "auth/password.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    const char *pw = "";
    size_t pwlen = 0;
    char *nl = memchr(s, '\n', size);
    if (nl) {
        *nl = '\0';
        pw = nl + 1;
        pwlen = size - (size_t)(nl + 1 - s);
    }
    auth_password_cost c;
    int parsed = auth_password_inspect(s, &c);
    if (parsed != 0) {
        if (auth_password_verify(s, pw, pwlen) != -2) abort(); /* parse and verify must agree */
    } else if ((uint64_t)c.m_kib * c.t <= 2048) {
        int rc = auth_password_verify(s, pw, pwlen);
        if (rc != 0 && rc != -1) abort();
    }
    (void)auth_password_needs_rehash(s);
    free(s);
    return 0;
}
