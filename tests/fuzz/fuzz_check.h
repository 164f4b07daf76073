/* CHECK(c): a fuzz target's invariant; when it fails, the condition and its place go to stderr
 * and abort() makes libFuzzer keep the input as a crash. */
#ifndef IOTAD_FUZZ_CHECK_H
#define IOTAD_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
