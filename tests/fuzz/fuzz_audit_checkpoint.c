/* libFuzzer driver for audit_checkpoint_parse: arbitrary lines must parse or be refused without
 * a crash or an out-of-bounds read; a parsed line has a 64-hex head and verifies (or not)
 * against a fixed public key without trouble, and re-signing it yields a line that parses to
 * the same ts, seq and head. */
#include "auth/audit_chain.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024) return 0;
    audit_checkpoint cp;
    if (audit_checkpoint_parse((const char *)data, size, &cp) != 0) return 0;
    if (strlen(cp.head) != 64 || cp.seq < 0 || cp.ts_ms < 0) abort();
    static const uint8_t seed[32] = {1, 2, 3};
    static const uint8_t pub[32] = {4, 5, 6};
    (void)audit_checkpoint_verify(pub, &cp);
    char line[AUDIT_CHECKPOINT_LINE_MAX];
    if (audit_checkpoint_format(seed, cp.ts_ms, cp.seq, cp.head, line, sizeof line) != 0) abort();
    audit_checkpoint back;
    if (audit_checkpoint_parse(line, strlen(line), &back) != 0 || back.seq != cp.seq ||
        back.ts_ms != cp.ts_ms || strcmp(back.head, cp.head) != 0)
        abort();
    return 0;
}
