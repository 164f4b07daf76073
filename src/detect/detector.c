/* Detector parameters (one table of defaults) and the generic checked snapshot format shared by
 * every detector: header = magic "DTS1", u16 format version, u16 byte-order tag, u32 payload size,
 * u32 FNV-1a of the payload; payload = the plain-data state. */
#include "detect/detector.h"

#include <string.h>

#define SNAP_MAGIC 0x31535444u /* "DTS1" little-endian */
#define SNAP_VERSION 9
#define SNAP_ORDER 0x0102

typedef struct {
    const char *name;
    size_t off;
    int is_u32;
    double dflt;
} param_def;

#define PD(f, u, d)                                                                                \
    {                                                                                              \
#f, offsetof(det_params, f), u, d                                                          \
    }
/* clang-format off */
static const param_def param_table[] = {
    PD(level_alpha, 0, 0.02),  PD(season_alpha, 0, 0.05), PD(scale_alpha, 0, 0.01),
    PD(clip_z, 0, 4.0),        PD(ar_lambda, 0, 0.999),   PD(hst_window, 1, 200),
    PD(lik_short, 1, 12),      PD(lik_alpha, 0, 0.0005),  PD(shift_alpha, 0, 0.05),
    PD(lik_fmax, 0, 0.08),     PD(ens_density, 0, 2),     PD(warmup, 1, 300),
    PD(alert_info, 0, 0.45),   PD(alert_warning, 0, 0.7), PD(alert_critical, 0, 0.85),
    PD(alert_holdoff, 1, 100), PD(mv_learn, 0, 0.002),    PD(mv_smooth, 0, 0.2),
    PD(mv_k_on, 0, 3.5),       PD(mv_k_off, 0, 2.0),      PD(mv_ridge, 0, 0.01),
    PD(mv_mewma, 0, 0.1),      PD(mv_track, 0, 0.5),      PD(mv_learn_alarm, 0, 0.0003),
    PD(ens_ar, 0, 1),          PD(cal_stream, 0, 1),      PD(conf, 0, 1),
    PD(conf_warm, 1, 150),     PD(gap_k, 0, 12),          PD(mv_ew_margin, 0, 1.5),
    PD(mv_cal_learn, 0, 0.0015), PD(lik_short2, 1, 6),     PD(lik_short2_w, 0, 8),
    PD(lik_peak_h, 1, 1000),    PD(lik_peak_tol, 0, 0.25),
    PD(learn_h, 0, 20),         PD(routine_tol, 0, 0.1),    PD(routine_decay, 0, 2),
};
/* clang-format on */
#undef PD

void det_params_default(det_params *p)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < sizeof param_table / sizeof param_table[0]; i++)
        det_params_set(p, param_table[i].name, param_table[i].dflt);
}

int det_params_set(det_params *p, const char *name, double value)
{
    for (size_t i = 0; i < sizeof param_table / sizeof param_table[0]; i++) {
        const param_def *d = &param_table[i];
        if (strcmp(d->name, name) != 0) continue;
        if (d->is_u32) {
            uint32_t v = value < 0 ? 0 : (value > 4e9 ? 4000000000u : (uint32_t)value);
            memcpy((char *)p + d->off, &v, sizeof v);
        } else {
            memcpy((char *)p + d->off, &value, sizeof value);
        }
        return 0;
    }
    return -1;
}

uint32_t det_fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void put32(uint8_t *o, uint32_t v)
{
    memcpy(o, &v, 4);
}

static uint32_t get32(const uint8_t *i)
{
    uint32_t v;
    memcpy(&v, i, 4);
    return v;
}

size_t det_snapshot(const det_vtable *vt, const void *state, uint8_t *out, size_t cap)
{
    size_t need = DET_SNAP_HEADER + vt->state_size;
    if (cap < need) return 0;
    put32(out, SNAP_MAGIC);
    put32(out + 4, (uint32_t)SNAP_VERSION | ((uint32_t)SNAP_ORDER << 16));
    put32(out + 8, (uint32_t)vt->state_size);
    memcpy(out + DET_SNAP_HEADER, state, vt->state_size);
    put32(out + 12, det_fnv1a(out + DET_SNAP_HEADER, vt->state_size));
    return need;
}

int det_restore(const det_vtable *vt, void *state, const det_params *p, const uint8_t *in,
                size_t len)
{
    if (len != DET_SNAP_HEADER + vt->state_size) goto fail;
    if (get32(in) != SNAP_MAGIC) goto fail;
    if (get32(in + 4) != ((uint32_t)SNAP_VERSION | ((uint32_t)SNAP_ORDER << 16))) goto fail;
    if (get32(in + 8) != vt->state_size) goto fail;
    if (get32(in + 12) != det_fnv1a(in + DET_SNAP_HEADER, vt->state_size)) goto fail;
    memcpy(state, in + DET_SNAP_HEADER, vt->state_size);
    if (vt->validate && vt->validate(state) != 0) goto fail;
    return 0;
fail:
    vt->reset(state, p);
    return -1;
}
