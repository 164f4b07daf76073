/* libFuzzer driver for det_series_restore (detector snapshots read back from disk after a restart).
 * Each input is tried twice:
 *  1. as a whole snapshot: restore must either accept it or refuse it (-1, series reset), never
 *     crash; the series must then take points and snapshot again;
 *  2. as the payload of a snapshot with a valid header and checksum (the input is cut or
 *     zero-padded to the state size), so the per-detector validation is exercised, not only the
 *     checksum: whatever restore accepts must be safe to update. */
#include "detect/series.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t snap[DET_SERIES_SNAP_SIZE];

static void exercise(det_series *s, const det_params *p)
{
    static const double xs[] = {1.0, -3.5, 1e300, 0.0, NAN, 42.0, -1e-300, 7.0};
    det_result r;
    int64_t ts = 1700000000000LL;
    for (size_t i = 0; i < 64; i++, ts += 60000) {
        det_series_update(s, p, ts, xs[i % (sizeof xs / sizeof xs[0])], &r);
        if (!(r.score >= 0.0 && r.score <= 1.0)) abort();
        if (r.alert != 0 && r.alert != 1) abort();
    }
    if (det_series_snapshot(s, snap, sizeof snap) != DET_SERIES_SNAP_SIZE) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static det_series s;
    det_params p;
    det_params_default(&p);

    det_series_init(&s, &p, 7);
    int rc = det_series_restore(&s, &p, data, size);
    if (rc != 0 && rc != -1) abort();
    exercise(&s, &p);

    /* a valid header around the input: start from a real snapshot, replace its payload */
    det_series_init(&s, &p, 7);
    size_t n = det_series_snapshot(&s, snap, sizeof snap);
    if (n != DET_SERIES_SNAP_SIZE) abort();
    size_t body = n - DET_SNAP_HEADER;
    memset(snap + DET_SNAP_HEADER, 0, body);
    memcpy(snap + DET_SNAP_HEADER, data, size < body ? size : body);
    uint32_t h = det_fnv1a(snap + DET_SNAP_HEADER, body);
    memcpy(snap + 12, &h, sizeof h);
    rc = det_series_restore(&s, &p, snap, n);
    if (rc != 0 && rc != -1) abort();
    exercise(&s, &p);
    return 0;
}
