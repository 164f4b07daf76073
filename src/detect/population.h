/* Population (peer) detector: flags a device that departs from its peers of the same type. At each
 * step the caller passes the same metric for all peers; each device's robust z against the peer
 * median and MAD is smoothed per device (EW), so a device that is persistently off its peers
 * stands out while a whole-fleet change (weather, a firmware roll-out) does not. */
#ifndef IOTAD_DETECT_POPULATION_H
#define IOTAD_DETECT_POPULATION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t n;
    float ewz; /* EW mean of the signed robust z against the peers */
} det_peer;

/* Robust z of each x[i] against the median/MAD of x[0..n); scratch holds n doubles (the caller
 * owns it: no allocation here). Returns 0, or -1 if n < 3 (too few peers to judge). */
int det_peer_zscores(const double *x, size_t n, double *z_out, double *scratch);
void det_peer_init(det_peer *p);
/* Learns this step's z for one device; returns the smoothed |z| (its departure from the peers). */
double det_peer_update(det_peer *p, double z, double alpha);

#endif
