/* Telemetry models of the simulated fleet (see sim_models.h). Every model is a small
 * discrete-time process advanced by the real time between samples: first-order lags for
 * thermal and air dynamics, an Ornstein-Uhlenbeck slow drift per metric, Gaussian measurement
 * noise, and a weekday office occupancy profile in the site's local time that drives the daily
 * seasonality. The number of PRNG draws per step never depends on faults, which are applied to
 * the outputs only. */
#include "sim/sim_models.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PI 3.14159265358979323846

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rng_uniform(sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double sim_rng_range(sim_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * sim_rng_uniform(r);
}

double sim_rng_normal(sim_rng *r)
{
    double u1 = sim_rng_uniform(r), u2 = sim_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

uint64_t sim_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* ---- Types, sites, metadata ---- */

static const char *const type_names[SIM_TYPE_COUNT] = {"thermostat", "power_meter", "camera",
                                                       "gateway",    "door_sensor", "air_quality"};

const char *sim_type_name(sim_type t)
{
    return (unsigned)t < SIM_TYPE_COUNT ? type_names[t] : "generic";
}

int sim_type_parse(const char *name, sim_type *out)
{
    for (int i = 0; i < SIM_TYPE_COUNT; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (sim_type)i;
            return 0;
        }
    }
    return -1;
}

/* Daylight saving is ignored: the offsets are the standard ones. */
static const sim_site sites[] = {
    {"Berlin HQ", "BER", 60, 230, 50, 10, 5},      {"Lyon Warehouse", "LYS", 60, 230, 50, 12, 6},
    {"Austin Plant", "AUS", -360, 120, 60, 21, 7}, {"Toronto Office", "YYZ", -300, 120, 60, 8, 5},
    {"Singapore Lab", "SIN", 480, 230, 50, 28, 3}, {"Melbourne Store", "MEL", 600, 230, 50, 16, 6},
};
#define NSITES (sizeof sites / sizeof sites[0])

size_t sim_site_count(void)
{
    return NSITES;
}

const sim_site *sim_site_get(size_t i)
{
    return &sites[i % NSITES];
}

typedef struct {
    const char *label, *vendor, *model, *fw_name;
    const char *fw_versions[3];
    const char *zones[6];
} type_catalog;

static const type_catalog catalog[SIM_TYPE_COUNT] = {
    {"Thermostat",
     "Ecotherm",
     "ET-400",
     "ecotherm-os",
     {"4.2.1", "4.2.3", "4.1.7"},
     {"Floor 1 Lobby", "Floor 2 Open Space", "Floor 3 Meeting Room", "Server Room", "Cafeteria",
      "Executive Suite"}},
    {"Power Meter",
     "Voltaris",
     "PM-3P",
     "voltaris-fw",
     {"2.8.0", "2.8.2", "2.7.5"},
     {"Main Panel", "HVAC Panel", "Lighting Circuit", "EV Chargers", "Floor 2 Sub-panel",
      "Data Hall PDU"}},
    {"Camera",
     "Optiview",
     "OV-D2",
     "optiview-cam",
     {"7.10.4", "7.10.2", "7.9.13"},
     {"Main Entrance", "Parking Lot", "Loading Dock", "Lobby", "Stairwell B", "Perimeter North"}},
    {"Gateway",
     "Meshlink",
     "ML-GW5",
     "meshlink-os",
     {"3.4.0", "3.3.9", "3.4.1"},
     {"Floor 1 IDF", "Floor 2 IDF", "Roof", "Warehouse Mezzanine", "Basement", "Annex"}},
    {"Door Sensor",
     "Sentra",
     "DS-20",
     "sentra-fw",
     {"1.6.2", "1.6.0", "1.5.9"},
     {"Main Entrance Door", "Server Room Door", "Fire Exit 2", "Loading Dock Door", "Storage Room",
      "Roof Access"}},
    {"Air Quality",
     "Aerosense",
     "AQ-7",
     "aerosense",
     {"5.0.3", "5.0.1", "4.9.8"},
     {"Open Space", "Conference Room A", "Cafeteria", "Lab 1", "Reception", "Training Room"}},
};

void sim_device_meta(size_t index, sim_meta *out)
{
    memset(out, 0, sizeof *out);
    sim_type t = (sim_type)(index % SIM_TYPE_COUNT);
    size_t group = index / SIM_TYPE_COUNT; /* one device of each type per group */
    const sim_site *site = sim_site_get(group);
    const type_catalog *c = &catalog[t];
    const char *zone = c->zones[(group / NSITES) % 6];
    unsigned number = (unsigned)(group / NSITES) + 1;
    out->type = t;
    out->site = site;
    snprintf(out->name, sizeof out->name, "%s %s (%s-%02u)", c->label, zone, site->code, number);
    snprintf(out->location, sizeof out->location, "%s, %s", site->name, zone);
    snprintf(out->firmware, sizeof out->firmware, "%s %s", c->fw_name,
             c->fw_versions[(index * 7 / 3) % 3]);
    snprintf(out->vendor, sizeof out->vendor, "%s", c->vendor);
    snprintf(out->model, sizeof out->model, "%s", c->model);
}

/* ---- Metric descriptors ---- */

/* name, lo, hi, scale, decimals, counter, discrete */
static const sim_metric_desc m_thermostat[] = {
    {"temp", -40, 85, 0.5, 2, false, false},
    {"humidity", 0, 100, 2, 1, false, false},
    {"setpoint", 5, 35, 0.5, 1, false, true},
    {"hvac_duty", 0, 100, 5, 1, false, false},
};
static const sim_metric_desc m_power[] = {
    {"voltage", 0, 300, 1.5, 1, false, false},  {"current", 0, 400, 2, 2, false, false},
    {"pf", 0, 1, 0.02, 3, false, false},        {"power", 0, 120000, 400, 1, false, false},
    {"energy_kwh", 0, 1e12, 1, 3, true, false}, {"frequency", 40, 70, 0.02, 3, false, false},
};
static const sim_metric_desc m_camera[] = {
    {"bitrate_kbps", 0, 20000, 300, 0, false, false}, {"fps", 0, 60, 1, 0, false, true},
    {"cpu_pct", 0, 100, 4, 1, false, false},          {"temp", -20, 100, 1, 1, false, false},
    {"motion", 0, 1, 0.1, 2, false, false},
};
static const sim_metric_desc m_gateway[] = {
    {"cpu_pct", 0, 100, 4, 1, false, false},  {"mem_pct", 0, 100, 2, 1, false, false},
    {"clients", 0, 1000, 3, 0, false, true},  {"rssi_dbm", -120, 0, 2, 0, false, false},
    {"uptime_s", 0, 1e12, 1, 0, true, false}, {"rx_bytes", 0, 1e18, 1, 0, true, false},
    {"tx_bytes", 0, 1e18, 1, 0, true, false},
};
static const sim_metric_desc m_door[] = {
    {"door_open", 0, 1, 1, 0, false, true},      {"motion", 0, 1, 1, 0, false, true},
    {"battery_pct", 0, 100, 1, 1, false, false}, {"temp", -40, 85, 0.3, 2, false, false},
    {"open_count", 0, 1e12, 1, 0, true, false},
};
static const sim_metric_desc m_air[] = {
    {"co2_ppm", 0, 10000, 40, 0, false, false}, {"pm25", 0, 1000, 3, 1, false, false},
    {"voc_ppb", 0, 5000, 30, 0, false, false},  {"temp", -40, 85, 0.4, 2, false, false},
    {"humidity", 0, 100, 2, 1, false, false},
};

const sim_metric_desc *sim_metrics(sim_type t, int *n)
{
#define RET(a)                                                                                     \
    do {                                                                                           \
        *n = (int)(sizeof a / sizeof a[0]);                                                        \
        return a;                                                                                  \
    } while (0)
    switch (t) {
    case SIM_THERMOSTAT:
        RET(m_thermostat);
    case SIM_POWER_METER:
        RET(m_power);
    case SIM_CAMERA:
        RET(m_camera);
    case SIM_GATEWAY:
        RET(m_gateway);
    case SIM_DOOR_SENSOR:
        RET(m_door);
    case SIM_AIR_QUALITY:
        RET(m_air);
    default:
        break;
    }
#undef RET
    *n = 0;
    return NULL;
}

/* ---- Time of day ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t local_seconds(const sim_site *site, int64_t ts_ms)
{
    return floor_div(ts_ms, 1000) + (int64_t)site->utc_offset_min * 60;
}

double sim_local_hour(const sim_site *site, int64_t ts_ms)
{
    int64_t s = local_seconds(site, ts_ms);
    int64_t sod = s - floor_div(s, 86400) * 86400;
    return (double)sod / 3600.0 + (double)(ts_ms - floor_div(ts_ms, 1000) * 1000) / 3.6e6;
}

static double smoothstep(double e0, double e1, double x)
{
    double t = (x - e0) / (e1 - e0);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return t * t * (3 - 2 * t);
}

double sim_occupancy(const sim_site *site, int64_t ts_ms)
{
    int64_t day = floor_div(local_seconds(site, ts_ms), 86400);
    int weekday = (int)(((day + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
    double h = sim_local_hour(site, ts_ms);
    double office = smoothstep(7, 9, h) * (1 - smoothstep(17, 19.5, h));
    office *= 1 - 0.15 * exp(-(h - 12.5) * (h - 12.5) / 0.5); /* lunch dip */
    if (weekday == 0 || weekday == 6) office *= 0.15;
    return 0.04 + 0.96 * office;
}

static double outdoor_temp(const sim_site *site, int64_t ts_ms)
{
    double h = sim_local_hour(site, ts_ms);
    return site->temp_mean + site->temp_amp * sin(2 * PI * (h - 9) / 24); /* peak at 15:00 */
}

/* ---- Models ---- */

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Exact discretisation of an OU process with stationary sd and time constant tau. */
static double ou_step(sim_model *m, int i, double dt, double sd, double tau)
{
    double a = exp(-dt / tau);
    m->ou[i] = a * m->ou[i] + sd * sqrt(1 - a * a) * sim_rng_normal(&m->rng);
    return m->ou[i];
}

void sim_model_init(sim_model *m, sim_type t, const sim_site *site, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    m->site = site ? site : sim_site_get(0);
    sim_rng_seed(&m->rng, seed);
    sim_rng_seed(&m->frng, seed ^ 0x5deece66dULL);
    sim_rng *r = &m->rng;
    switch (t) {
    case SIM_THERMOSTAT:
        m->p[0] = sim_rng_range(r, 20.5, 22.5);     /* comfort setpoint */
        m->p[1] = m->p[0] - sim_rng_range(r, 2, 4); /* night setback */
        m->p[2] = sim_rng_range(r, 6, 12) * 3600;   /* envelope time constant, s */
        m->p[3] = sim_rng_range(r, 1.2e-3, 2.0e-3); /* HVAC degC/s at full duty */
        m->p[4] = sim_rng_range(r, 38, 50);         /* humidity level */
        m->x[0] = m->p[0];
        break;
    case SIM_POWER_METER:
        m->p[0] = sim_rng_range(r, 4, 15);                /* base load, A */
        m->p[1] = m->p[0] + sim_rng_range(r, 15, 60);     /* peak load, A */
        m->p[2] = sim_rng_range(r, 0.86, 0.93);           /* power factor at night */
        m->p[3] = sim_rng_range(r, 0.05, 0.12) * m->p[1]; /* compressor cycling amplitude */
        m->p[4] = sim_rng_range(r, 0, 1);                 /* compressor phase */
        m->x[0] = sim_rng_range(r, 1000, 90000);          /* energy_kwh at install */
        break;
    case SIM_CAMERA:
        m->p[0] = sim_rng_range(r, 1800, 4200); /* bitrate, kbps */
        m->p[1] = sim_rng_uniform(r) < 0.5 ? 15 : 25;
        m->p[2] = sim_rng_range(r, -2, 4); /* housing temperature offset */
        break;
    case SIM_GATEWAY:
        m->p[0] = sim_rng_range(r, 20, 120);            /* peak clients */
        m->p[1] = sim_rng_range(r, 30, 55);             /* memory in use, % */
        m->p[2] = sim_rng_range(r, -72, -48);           /* uplink RSSI */
        m->x[0] = sim_rng_range(r, 3600, 40 * 86400.0); /* uptime at start */
        m->x[1] = floor(sim_rng_range(r, 1e9, 5e11));   /* rx bytes */
        m->x[2] = floor(m->x[1] * sim_rng_range(r, 0.2, 0.4));
        break;
    case SIM_DOOR_SENSOR:
        m->p[0] = sim_rng_range(r, 0.3, 0.8) / (7 * 86400.0); /* battery %/s */
        m->p[1] = sim_rng_range(r, 19.5, 22);
        m->x[0] = sim_rng_range(r, 55, 100); /* battery % */
        m->x[1] = floor(sim_rng_range(r, 100, 20000));
        break;
    case SIM_AIR_QUALITY:
        m->p[0] = sim_rng_range(r, 4, 20);       /* people at peak */
        m->p[1] = sim_rng_range(r, 4, 12);       /* PM2.5 background */
        m->p[2] = sim_rng_range(r, 15, 35) * 60; /* CO2 time constant, s */
        m->x[0] = 430;
        break;
    default:
        break;
    }
}

static void step_thermostat(sim_model *m, int64_t ts, double dt, double *v)
{
    double occ = sim_occupancy(m->site, ts), out = outdoor_temp(m->site, ts);
    double h = sim_local_hour(m->site, ts);
    double sp = occ > 0.5 ? m->p[0] : m->p[1];
    double tau = m->p[2], rate = m->p[3];
    if (!m->have_last) m->x[0] = sp; /* the first sample: settled */
    double temp = m->x[0], u = 0;
    double gains = 1e-4 * occ; /* people and equipment, degC/s */
    double sub = dt > 30 ? 30 : dt;
    for (double done = 0; done < dt; done += sub) {
        /* proportional control with feed-forward of the envelope loss; positive heats. A
         * heat pump that only heats while it is cooler outside than just above the setpoint,
         * and only cools above that (so the night setback is reached by coasting). */
        u = clampd(50 * (sp - temp) + 100 * (sp - out) / tau / rate, -100, 100);
        u = out < sp + 2 ? (u > 0 ? u : 0) : (u < 0 ? u : 0);
        double d = dt - done < sub ? dt - done : sub;
        temp += d * ((out - temp) / tau + u / 100 * rate + gains);
    }
    m->x[0] = temp;
    double drift = ou_step(m, 0, dt, 0.15, 4 * 3600);
    v[0] = temp + drift + 0.05 * sim_rng_normal(&m->rng);
    double hum = m->p[4] + 4 * sin(2 * PI * (h - 5) / 24) - 1.8 * (temp - sp) +
                 ou_step(m, 1, dt, 2.0, 6 * 3600) + 0.3 * sim_rng_normal(&m->rng);
    v[1] = clampd(hum, 15, 85);
    v[2] = sp;
    v[3] = fabs(u) + 0.5 * sim_rng_normal(&m->rng);
}

static void step_power(sim_model *m, int64_t ts, double dt, double dt_real, double *v)
{
    double occ = sim_occupancy(m->site, ts);
    double base = m->p[0], peak = m->p[1];
    /* a compressor cycling with a 20 min period, 40% duty */
    double cyc = fmod((double)ts / 1.2e6 + m->p[4], 1.0) < 0.4 ? m->p[3] : 0;
    double i = base + (peak - base) * occ + cyc + ou_step(m, 1, dt, 0.05 * peak, 2 * 3600);
    i *= 1 + 0.015 * sim_rng_normal(&m->rng);
    i = clampd(i, 0.2, 390);
    double volt = m->site->mains_v * (1 - 0.02 * i / peak) + ou_step(m, 0, dt, 0.8, 3600) +
                  0.3 * sim_rng_normal(&m->rng);
    double pf =
        m->p[2] + 0.05 * occ + ou_step(m, 2, dt, 0.01, 3600) + 0.004 * sim_rng_normal(&m->rng);
    pf = clampd(pf, 0.6, 0.995);
    double freq =
        m->site->mains_hz + ou_step(m, 5, dt, 0.015, 600) + 0.004 * sim_rng_normal(&m->rng);
    volt = clampd(volt, 1, 299);
    double power = volt * i * pf;
    m->x[0] += power * dt_real / 3.6e6;
    v[0] = volt;
    v[1] = i;
    v[2] = pf;
    v[3] = power;
    v[4] = m->x[0];
    v[5] = freq;
}

static void step_camera(sim_model *m, int64_t ts, double dt, double *v)
{
    double occ = sim_occupancy(m->site, ts), h = sim_local_hour(m->site, ts);
    bool night = h < 6.5 || h > 19.5; /* infrared mode: grainier, lower bitrate */
    double act = ou_step(m, 4, dt, 0.12, 300);
    double motion = clampd(0.05 + 0.55 * occ + act + 0.05 * sim_rng_normal(&m->rng), 0, 1);
    double kbps = m->p[0] * (0.55 + 0.8 * motion) * (night ? 0.8 : 1.0);
    kbps *= 1 + 0.04 * sim_rng_normal(&m->rng);
    double fps = m->p[1];
    if (sim_rng_uniform(&m->rng) < 0.02) fps -= 5; /* an occasional encoder stall */
    double cpu = 18 + 45 * motion + 2 * sim_rng_normal(&m->rng);
    double temp = 36 + m->p[2] + 0.12 * cpu + 0.35 * (outdoor_temp(m->site, ts) - 15) +
                  ou_step(m, 3, dt, 0.6, 3 * 3600) + 0.2 * sim_rng_normal(&m->rng);
    v[0] = kbps;
    v[1] = fps;
    v[2] = cpu;
    v[3] = temp;
    v[4] = motion;
}

static void step_gateway(sim_model *m, int64_t ts, double dt, double dt_real, double *v)
{
    double occ = sim_occupancy(m->site, ts);
    double clients = round(m->p[0] * (0.08 + 0.92 * occ) + 1.5 * sim_rng_normal(&m->rng));
    if (clients < 0) clients = 0;
    double cpu = 7 + 0.35 * clients + 2 * sim_rng_normal(&m->rng);
    double mem =
        m->p[1] + 0.05 * clients + ou_step(m, 1, dt, 3, 6 * 3600) + 0.3 * sim_rng_normal(&m->rng);
    double rssi = m->p[2] + ou_step(m, 3, dt, 2.5, 1800) + 1.2 * sim_rng_normal(&m->rng);
    double rx_rate = (1.5e4 + clients * 5e3) * (1 + 0.2 * fabs(sim_rng_normal(&m->rng)));
    double tx_rate = rx_rate * 0.3 * (1 + 0.1 * fabs(sim_rng_normal(&m->rng)));
    m->x[0] += dt_real;
    m->x[1] += floor(rx_rate * dt_real);
    m->x[2] += floor(tx_rate * dt_real);
    v[0] = cpu;
    v[1] = mem;
    v[2] = clients;
    v[3] = round(rssi);
    v[4] = floor(m->x[0]);
    v[5] = m->x[1];
    v[6] = m->x[2];
}

static void step_door(sim_model *m, int64_t ts, double dt, double dt_real, double *v)
{
    double occ = sim_occupancy(m->site, ts), h = sim_local_hour(m->site, ts);
    double lambda = (0.35 * occ + 0.004) / 60; /* door openings per second */
    double u_open = sim_rng_uniform(&m->rng), u_dur = sim_rng_uniform(&m->rng);
    double u_motion = sim_rng_uniform(&m->rng);
    if (ts >= m->until_ms && u_open < 1 - exp(-lambda * dt)) {
        m->until_ms = ts + (int64_t)(4000 + 36000 * u_dur);
        m->x[1] += 1;
        m->x[0] -= 0.0005; /* the radio burst of an event costs a little battery */
    }
    bool open = ts < m->until_ms;
    m->x[0] -= m->p[0] * dt_real;
    if (m->x[0] < 0) m->x[0] = 0;
    double temp = m->p[1] + 1.0 * sin(2 * PI * (h - 9) / 24) + ou_step(m, 3, dt, 0.3, 4 * 3600) +
                  0.08 * sim_rng_normal(&m->rng);
    v[0] = open ? 1 : 0;
    v[1] = (open || u_motion < 0.02 + 0.6 * occ) ? 1 : 0;
    v[2] = m->x[0];
    v[3] = temp;
    v[4] = m->x[1];
}

static void step_air(sim_model *m, int64_t ts, double dt, double *v)
{
    double occ = sim_occupancy(m->site, ts), h = sim_local_hour(m->site, ts);
    double people = m->p[0] * (occ - 0.04) / 0.96;
    double target = 420 + 38 * people;
    m->x[0] += (target - m->x[0]) * (1 - exp(-dt / m->p[2]));
    double co2 = m->x[0] + ou_step(m, 0, dt, 15, 3600) + 6 * sim_rng_normal(&m->rng);
    double traffic = exp(-(h - 8) * (h - 8) / 2.25) + exp(-(h - 18) * (h - 18) / 4);
    double pm = m->p[1] * (1 + 1.2 * traffic) * exp(ou_step(m, 1, dt, 0.25, 2 * 3600)) +
                0.4 * sim_rng_normal(&m->rng);
    double voc =
        80 + 0.35 * (m->x[0] - 420) + ou_step(m, 2, dt, 20, 3600) + 6 * sim_rng_normal(&m->rng);
    double temp = 21 + 0.002 * (m->x[0] - 420) + 0.8 * sin(2 * PI * (h - 10) / 24) +
                  ou_step(m, 3, dt, 0.3, 4 * 3600) + 0.06 * sim_rng_normal(&m->rng);
    double hum = 42 + 0.008 * (m->x[0] - 420) + ou_step(m, 4, dt, 3, 6 * 3600) +
                 0.3 * sim_rng_normal(&m->rng);
    v[0] = round(clampd(co2, 380, 5000));
    v[1] = clampd(pm, 0.5, 900);
    v[2] = round(clampd(voc, 5, 4000));
    v[3] = temp;
    v[4] = clampd(hum, 15, 85);
}

static double apply_fault(sim_model *m, int i, int64_t ts, double v)
{
    sim_fault_info *f = &m->fault;
    if (f->kind == SIM_FAULT_NONE || f->metric != i || ts < f->start_ms) return v;
    switch (f->kind) {
    case SIM_FAULT_SPIKE:
        return v + f->magnitude;
    case SIM_FAULT_LEVEL_SHIFT:
        return v + f->magnitude;
    case SIM_FAULT_STUCK:
        if (!m->stuck_set) {
            m->stuck_value = m->have_last ? m->last[i] : v;
            m->stuck_set = true;
        }
        return m->stuck_value;
    case SIM_FAULT_DRIFT: {
        double span = (double)(f->end_ms - f->start_ms);
        double frac = span > 0 ? (double)(ts - f->start_ms) / span : 1;
        return v + f->magnitude * clampd(frac, 0, 1);
    }
    default:
        return v;
    }
}

void sim_model_step(sim_model *m, int64_t ts_ms, sim_sample *out)
{
    int n;
    const sim_metric_desc *d = sim_metrics(m->type, &n);
    double dt_real = m->last_ms ? (double)(ts_ms - m->last_ms) / 1000.0 : 5.0;
    if (dt_real < 0) dt_real = 0;
    double dt = dt_real > 3600 ? 3600 : dt_real; /* dynamics: a long gap settles anyway */
    m->last_ms = ts_ms > m->last_ms ? ts_ms : m->last_ms;
    double v[SIM_MAX_METRICS] = {0};
    switch (m->type) {
    case SIM_THERMOSTAT:
        step_thermostat(m, ts_ms, dt, v);
        break;
    case SIM_POWER_METER:
        step_power(m, ts_ms, dt, dt_real, v);
        break;
    case SIM_CAMERA:
        step_camera(m, ts_ms, dt, v);
        break;
    case SIM_GATEWAY:
        step_gateway(m, ts_ms, dt, dt_real, v);
        break;
    case SIM_DOOR_SENSOR:
        step_door(m, ts_ms, dt, dt_real, v);
        break;
    case SIM_AIR_QUALITY:
        step_air(m, ts_ms, dt, v);
        break;
    default:
        break;
    }
    sim_fault_info *f = &m->fault;
    if (f->kind != SIM_FAULT_NONE && f->kind != SIM_FAULT_SPIKE && ts_ms >= f->end_ms) {
        f->kind = SIM_FAULT_NONE; /* over: [start_ms, end_ms) */
        m->stuck_set = false;
    }
    out->n = n;
    for (int i = 0; i < n; i++) {
        double x = clampd(v[i], d[i].lo, d[i].hi);
        x = clampd(apply_fault(m, i, ts_ms, x), d[i].lo, d[i].hi);
        out->desc[i] = &d[i];
        out->value[i] = x;
        m->last[i] = x;
    }
    m->have_last = true;
    if (f->kind == SIM_FAULT_SPIKE && ts_ms >= f->start_ms)
        f->kind = SIM_FAULT_NONE; /* one sample */
}

bool sim_model_fault_active(const sim_model *m)
{
    return m->fault.kind != SIM_FAULT_NONE;
}

int sim_model_fault_set(sim_model *m, const sim_fault_info *f)
{
    int n;
    const sim_metric_desc *d = sim_metrics(m->type, &n);
    if (!sim_fault_is_data(f->kind) || f->metric < 0 || f->metric >= n) return -1;
    if (d[f->metric].counter || f->end_ms < f->start_ms) return -1;
    m->fault = *f;
    m->stuck_set = false;
    return 0;
}

int sim_model_fault(sim_model *m, sim_fault kind, int64_t now_ms, sim_fault_info *info)
{
    return sim_model_fault_on(m, kind, -1, now_ms, info);
}

int sim_model_fault_on(sim_model *m, sim_fault kind, int metric, int64_t now_ms,
                       sim_fault_info *info)
{
    if (!sim_fault_is_data(kind)) return -1;
    int n, analog[SIM_MAX_METRICS], na = 0;
    const sim_metric_desc *d = sim_metrics(m->type, &n);
    for (int i = 0; i < n; i++)
        if (!d[i].counter && !d[i].discrete) analog[na++] = i;
    if (na == 0 || metric >= n || (metric >= 0 && (d[metric].counter || d[metric].discrete)))
        return -1;
    sim_rng *r = &m->frng;
    int drawn = analog[sim_rng_next(r) % (uint64_t)na]; /* drawn either way: same later draws */
    if (metric < 0) metric = drawn;
    double sign = sim_rng_uniform(r) < 0.5 ? -1 : 1;
    double u = sim_rng_uniform(r), w = sim_rng_uniform(r);
    sim_fault_info f = {.kind = kind, .metric = metric, .start_ms = now_ms};
    switch (kind) {
    case SIM_FAULT_SPIKE:
        f.magnitude = sign * (6 + 6 * u) * d[metric].scale;
        f.end_ms = now_ms;
        break;
    case SIM_FAULT_LEVEL_SHIFT:
        f.magnitude = sign * (4 + 4 * u) * d[metric].scale;
        f.end_ms = now_ms + (int64_t)((5 + 15 * w) * 60000);
        break;
    case SIM_FAULT_STUCK:
        f.end_ms = now_ms + (int64_t)((5 + 15 * w) * 60000);
        break;
    default: /* drift */
        f.magnitude = sign * (6 + 6 * u) * d[metric].scale;
        f.end_ms = now_ms + (int64_t)((10 + 20 * w) * 60000);
        break;
    }
    /* keep the push visible: push away from the range edge the metric sits against */
    if (m->have_last && f.magnitude != 0) {
        double mid = (d[metric].lo + d[metric].hi) / 2;
        if ((m->last[metric] > mid && f.magnitude > 0 &&
             m->last[metric] + f.magnitude > d[metric].hi) ||
            (m->last[metric] < mid && f.magnitude < 0 &&
             m->last[metric] + f.magnitude < d[metric].lo))
            f.magnitude = -f.magnitude;
    }
    m->fault = f;
    m->stuck_set = false;
    if (info) *info = f;
    return 0;
}

/* ---- Faults ---- */

static const char *const fault_names[SIM_FAULT_COUNT] = {
    "none",       "spike",         "level_shift", "stuck",       "drift",     "dropout",
    "auth_burst", "acl_violation", "rate_burst",  "bad_payload", "new_source"};

const char *sim_fault_name(sim_fault f)
{
    return (unsigned)f < SIM_FAULT_COUNT ? fault_names[f] : "unknown";
}

bool sim_fault_is_data(sim_fault f)
{
    return f >= SIM_FAULT_SPIKE && f <= SIM_FAULT_DRIFT;
}

/* Per device per minute. With 60 devices: a data fault every ~2 minutes and an attack-like
 * event every ~5 minutes across the fleet. */
double sim_fault_rate(sim_fault f, sim_type t, bool mqtt)
{
    switch (f) {
    case SIM_FAULT_SPIKE:
        return 0.004;
    case SIM_FAULT_LEVEL_SHIFT:
        return 0.002;
    case SIM_FAULT_STUCK:
        return 0.0015;
    case SIM_FAULT_DRIFT:
        return 0.001;
    case SIM_FAULT_DROPOUT:
        return 0.0012;
    case SIM_FAULT_AUTH_BURST:
        return 0.0008;
    case SIM_FAULT_ACL:
        return mqtt ? 0.0008 : 0;
    case SIM_FAULT_RATE_BURST:
        return t == SIM_CAMERA ? 0.003 : 0;
    case SIM_FAULT_BAD_PAYLOAD:
        return 0.0008;
    case SIM_FAULT_NEW_SOURCE:
        return 0.0006;
    default:
        return 0;
    }
}

sim_fault sim_fault_roll(sim_rng *r, sim_type t, bool mqtt, double dt_s)
{
    double rates[SIM_FAULT_COUNT], total = 0;
    for (int f = 0; f < SIM_FAULT_COUNT; f++) {
        rates[f] = sim_fault_rate((sim_fault)f, t, mqtt);
        total += rates[f];
    }
    double u = sim_rng_uniform(r), pick = sim_rng_uniform(r) * total;
    if (total <= 0 || dt_s <= 0 || u >= 1 - exp(-total * dt_s / 60)) return SIM_FAULT_NONE;
    for (int f = 1; f < SIM_FAULT_COUNT; f++) {
        if (pick < rates[f]) return (sim_fault)f;
        pick -= rates[f];
    }
    return SIM_FAULT_SPIKE; /* rounding */
}

/* ---- Payloads ---- */

static int append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    if (*pos >= cap) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *pos) return -1;
    *pos += (size_t)n;
    return 0;
}

static int format_one(char *buf, size_t cap, size_t *pos, int64_t ts, const sim_sample *s)
{
    if (append(buf, cap, pos, "{\"ts\":%lld,\"metrics\":{", (long long)ts) != 0) return -1;
    for (int i = 0; i < s->n; i++) {
        double v = s->value[i];
        if (!isfinite(v)) v = 0; /* never reached: outputs are clamped */
        if (append(buf, cap, pos, "%s\"%s\":%.*f", i ? "," : "", s->desc[i]->name,
                   s->desc[i]->decimals, v) != 0)
            return -1;
    }
    return append(buf, cap, pos, "}}");
}

int sim_format_sample(char *buf, size_t cap, int64_t ts_ms, const sim_sample *s)
{
    size_t pos = 0;
    if (cap == 0 || format_one(buf, cap, &pos, ts_ms, s) != 0) return -1;
    return (int)pos;
}

int sim_format_batch(char *buf, size_t cap, const int64_t *ts_ms, const sim_sample *s, size_t n)
{
    size_t pos = 0;
    if (cap == 0 || append(buf, cap, &pos, "[") != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if ((i && append(buf, cap, &pos, ",") != 0) || format_one(buf, cap, &pos, ts_ms[i], &s[i]))
            return -1;
    }
    if (append(buf, cap, &pos, "]") != 0) return -1;
    return (int)pos;
}

int sim_format_bad(char *buf, size_t cap, sim_rng *r, int64_t ts_ms, const char **kind)
{
    static const char *const kinds[] = {"string_value", "truncated", "nan", "reserved_metric",
                                        "garbage"};
    unsigned k = (unsigned)(sim_rng_next(r) % 5);
    *kind = kinds[k];
    size_t pos = 0;
    int rc = 0;
    switch (k) {
    case 0:
        rc = append(buf, cap, &pos, "{\"ts\":%lld,\"metrics\":{\"temp\":\"hot\"}}",
                    (long long)ts_ms);
        break;
    case 1:
        rc = append(buf, cap, &pos, "{\"ts\":%lld,\"metrics\":{\"temp\":21.", (long long)ts_ms);
        break;
    case 2:
        rc = append(buf, cap, &pos, "{\"ts\":%lld,\"metrics\":{\"temp\":NaN}}", (long long)ts_ms);
        break;
    case 3:
        rc = append(buf, cap, &pos, "{\"ts\":%lld,\"metrics\":{\"sys.auth_failures\":0}}",
                    (long long)ts_ms);
        break;
    default:
        if (cap < 33) return -1;
        for (int i = 0; i < 32; i++) {
            unsigned char c = (unsigned char)(sim_rng_next(r) & 0xff);
            buf[pos++] = (char)(c == 0 ? 0xff : c);
        }
        buf[pos] = '\0';
        break;
    }
    return rc == 0 ? (int)pos : -1;
}
