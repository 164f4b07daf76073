/* libFuzzer driver for the security detectors' saved state (det_burst_restore,
 * det_addrset_restore: read back from detector_state after a restart). The input is tried as a
 * whole blob and, behind the right magic and size, as the state itself: restore must accept or
 * refuse it (a fresh state) without crashing, and whatever it accepts must be safe to update
 * and to snapshot again. */
#include "detect/security.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void burst(const uint8_t *blob, size_t len)
{
    det_burst b;
    det_sec_result r;
    if (det_burst_restore(&b, blob, len) != 0 && (b.n != 0 || b.rate != 0)) abort();
    int64_t ts = 1700000000000LL;
    static const double counts[] = {0, 3, 1e6, 0, 50, NAN, -1, 7};
    for (int i = 0; i < 8; i++, ts += 10000 * (i * i + 1)) {
        det_burst_update_at(&b, (det_sec_kind)(i % DET_SEC_KIND_COUNT), ts, 10000, counts[i], &r);
        if (!(r.q >= 0 && r.q <= 1) || !isfinite(b.rate)) abort();
    }
    uint8_t out[DET_BURST_SNAP_SIZE];
    if (det_burst_snapshot(&b, out, sizeof out) != sizeof out) abort();
}

static void addrs(const uint8_t *blob, size_t len)
{
    det_addrset a;
    if (det_addrset_restore(&a, blob, len) != 0 && det_addrset_count(&a) != 0) abort();
    for (uint64_t i = 0; i < 20; i++)
        if (det_addrset_observe(&a, i % 11, i % 3, 10) > DET_ADDR_NEW_NETWORK) abort();
    uint8_t out[DET_ADDRSET_SNAP_SIZE];
    if (det_addrset_snapshot(&a, out, sizeof out) != sizeof out) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    burst(data, size);
    addrs(data, size);
    uint8_t b[DET_BURST_SNAP_SIZE] = {'D', 'S', 'B', '1'};
    memcpy(b + 4, data, size < sizeof b - 4 ? size : sizeof b - 4);
    burst(b, sizeof b);
    uint8_t a[DET_ADDRSET_SNAP_SIZE] = {'D', 'S', 'A', '1'};
    uint32_t sz = (uint32_t)sizeof(det_addrset);
    memcpy(a + 4, &sz, 4);
    memcpy(a + 8, data, size < sizeof a - 8 ? size : sizeof a - 8);
    addrs(a, sizeof a);
    return 0;
}
