/* Telemetry models of the simulated fleet: pure, deterministic functions of a seed and the
 * sample timestamps (no I/O, no clock, no allocation), so they can be unit-tested.
 *
 * Each device type produces a fixed set of metrics with daily (and weekday) seasonality in the
 * site's local time, measurement noise, slow drift (an Ornstein-Uhlenbeck process per metric),
 * physically coupled metrics (power = voltage * current * pf; humidity falls as temperature
 * rises; CO2 follows occupancy with a lag) and monotonic counters (energy, bytes, uptime).
 *
 * Data faults (spike, level shift, stuck-at, drift) transform one analog metric's output for a
 * while and never touch the model's internal state or its noise PRNG: a faulted model and a
 * clean twin with the same seed produce identical series outside the fault window. Fault
 * parameters come from a second PRNG for the same reason. Counters and 0/1 states are never
 * faulted, so counters stay monotonic.
 *
 * The network-level faults (dropout, attacks) are only chosen here (sim_fault_roll); sim.c
 * carries them out. */
#ifndef IOTAD_SIM_SIM_MODELS_H
#define IOTAD_SIM_SIM_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---- */

typedef struct {
    uint64_t s[4];
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
double sim_rng_uniform(sim_rng *r);                     /* [0, 1) */
double sim_rng_range(sim_rng *r, double lo, double hi); /* [lo, hi) */
double sim_rng_normal(sim_rng *r);                      /* N(0, 1), Box-Muller */
uint64_t sim_hash(const char *s);                       /* FNV-1a 64 of a string, for seeds */

/* ---- Device types, sites, metadata ---- */

typedef enum {
    SIM_THERMOSTAT,
    SIM_POWER_METER,
    SIM_CAMERA,
    SIM_GATEWAY,
    SIM_DOOR_SENSOR,
    SIM_AIR_QUALITY,
    SIM_TYPE_COUNT
} sim_type;

const char *sim_type_name(sim_type t);               /* the devices.type value: "thermostat", ... */
int sim_type_parse(const char *name, sim_type *out); /* 0 ok, -1 unknown */

typedef struct {
    const char *name; /* "Berlin HQ" */
    const char *code; /* "BER" */
    int utc_offset_min;
    double mains_v, mains_hz;
    double temp_mean, temp_amp; /* outdoor daily mean and half-swing, degC */
} sim_site;

size_t sim_site_count(void);
const sim_site *sim_site_get(size_t i); /* i modulo the count */

/* Metadata of the index-th simulated device (type index % SIM_TYPE_COUNT, spread over sites). */
typedef struct {
    sim_type type;
    const sim_site *site;
    char name[96], location[128], firmware[48], vendor[32], model[32];
} sim_meta;

void sim_device_meta(size_t index, sim_meta *out);

/* ---- Models ---- */

#define SIM_MAX_METRICS 8

typedef struct {
    const char *name;
    double lo, hi; /* the sensor's range: every output is clamped into it */
    double scale;  /* typical variability; the unit of fault magnitudes */
    int decimals;  /* digits printed in payloads */
    bool counter;  /* monotonic non-decreasing */
    bool discrete; /* a 0/1 state or an integer count: not analog-faulted */
} sim_metric_desc;

/* Metric descriptors of a type; *n gets their count. */
const sim_metric_desc *sim_metrics(sim_type t, int *n);

typedef struct {
    int n;
    const sim_metric_desc *desc[SIM_MAX_METRICS];
    double value[SIM_MAX_METRICS];
} sim_sample;

typedef enum {
    SIM_FAULT_NONE = 0,
    /* data faults, carried out by the model */
    SIM_FAULT_SPIKE,
    SIM_FAULT_LEVEL_SHIFT,
    SIM_FAULT_STUCK,
    SIM_FAULT_DRIFT,
    /* behaviour faults, carried out by the simulator's clients */
    SIM_FAULT_DROPOUT,     /* stops sending for a few minutes, drops its connection */
    SIM_FAULT_AUTH_BURST,  /* a burst of MQTT CONNECTs with a wrong password */
    SIM_FAULT_ACL,         /* publishes to another device's topic */
    SIM_FAULT_RATE_BURST,  /* compromised: 20x its message rate for a few minutes */
    SIM_FAULT_BAD_PAYLOAD, /* one malformed payload */
    SIM_FAULT_NEW_SOURCE,  /* reconnects from a new source address */
    SIM_FAULT_COUNT
} sim_fault;

const char *sim_fault_name(sim_fault f); /* "spike", "level_shift", ... */
bool sim_fault_is_data(sim_fault f);

typedef struct {
    sim_fault kind;
    int metric;               /* index into the type's metrics */
    int64_t start_ms, end_ms; /* active for start_ms <= ts < end_ms; a spike: one sample */
    double magnitude; /* added offset (spike, shift), total drift at end_ms; unused for stuck */
} sim_fault_info;

typedef struct {
    sim_type type;
    const sim_site *site;
    sim_rng rng;  /* process and measurement noise */
    sim_rng frng; /* fault parameters only */
    int64_t last_ms;
    double ou[SIM_MAX_METRICS]; /* slow drift per metric */
    double last[SIM_MAX_METRICS];
    bool have_last;
    /* per-device parameters and dynamic state */
    double p[6];
    double x[6];
    int64_t until_ms;
    sim_fault_info fault;
    double stuck_value;
    bool stuck_set;
} sim_model;

/* Sets up a model with per-device parameters drawn from seed. */
void sim_model_init(sim_model *m, sim_type t, const sim_site *site, uint64_t seed);
/* Advances the model to ts_ms (>= the previous ts; gaps are fine) and writes one sample. */
void sim_model_step(sim_model *m, int64_t ts_ms, sim_sample *out);
/* Starts a data fault at now_ms on an analog metric, with metric, duration and magnitude
 * drawn from the fault PRNG; replaces an active fault. 0 ok (info filled when non-NULL),
 * -1 when kind is not a data fault. */
int sim_model_fault(sim_model *m, sim_fault kind, int64_t now_ms, sim_fault_info *info);
/* The same on a given analog metric (index into the type's metrics; -1 = drawn). -1 also
 * when that metric is a counter or discrete. */
int sim_model_fault_on(sim_model *m, sim_fault kind, int metric, int64_t now_ms,
                       sim_fault_info *info);
/* Starts exactly the given data fault (tests). 0 ok, -1 bad kind or metric. */
int sim_model_fault_set(sim_model *m, const sim_fault_info *f);
bool sim_model_fault_active(const sim_model *m);

/* Local hour of day [0, 24) and occupancy [0, 1] at a site (weekday office profile). */
double sim_local_hour(const sim_site *site, int64_t ts_ms);
double sim_occupancy(const sim_site *site, int64_t ts_ms);

/* ---- Fault schedule ---- */

/* Expected occurrences per device per minute of a fault kind for a device of type t (mqtt:
 * whether it publishes over MQTT; an ACL violation needs a topic). */
double sim_fault_rate(sim_fault f, sim_type t, bool mqtt);
/* Draws which fault (if any) starts during the next dt_s seconds: a Poisson draw with the rates
 * above. Returns SIM_FAULT_NONE most of the time. */
sim_fault sim_fault_roll(sim_rng *r, sim_type t, bool mqtt, double dt_s);

/* ---- Payloads ---- */

/* {"ts":<ms>,"metrics":{"temp":21.53,...}}. Returns the length written (NUL-terminated), or -1
 * when cap is too small. */
int sim_format_sample(char *buf, size_t cap, int64_t ts_ms, const sim_sample *s);
/* A JSON array of n samples. Same return convention. */
int sim_format_batch(char *buf, size_t cap, const int64_t *ts_ms, const sim_sample *s, size_t n);
/* One malformed payload of a kind drawn from r (*kind gets its name): a string value, truncated
 * JSON, NaN, a reserved sys.* metric, binary garbage. Returns the length written or -1. */
int sim_format_bad(char *buf, size_t cap, sim_rng *r, int64_t ts_ms, const char **kind);

#endif
