/* libFuzzer driver for config_load_text (the `--config FILE` parser): any text must apply or
 * be refused without a crash, an out-of-bounds read or a leak; a refusal says why and names
 * the line; applying the same text twice gives the same configuration (no state hidden in the
 * parser), and the result prints (every string option stays terminated within its field). */
#include "core/config.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    /* a copy of exactly size bytes: ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    CHECK(text);
    if (size) memcpy(text, data, size);
    config a, b;
    config_defaults(&a);
    config_defaults(&b);
    char err[512] = "", err2[512] = "";
    int rc = config_load_text(&a, "fuzz", text, size, err, sizeof err);
    int rc2 = config_load_text(&b, "fuzz", text, size, err2, sizeof err2);
    CHECK(rc == 0 || rc == -1);
    CHECK(rc == rc2);
    if (rc != 0) {
        CHECK(strncmp(err, "fuzz:", 5) == 0); /* names the input and the line */
        CHECK(strcmp(err, err2) == 0);
    }
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    CHECK(f);
    config_print(&a, f);
    fclose(f);
    CHECK(out && len > 0);
    free(out);
    free(text);
    return 0;
}
