/* Tests of sim/sim_models and sim/sim_proto: the simulated fleet's telemetry models are
 * deterministic for a seed, stay in physical ranges, show daily seasonality and physical
 * coupling, keep counters monotonic, and data faults change exactly the intended stretch of
 * one metric; the fault schedule has the documented rates; payloads are the JSON the ingest
 * decoder accepts (and the bad ones are refused); the MQTT and HTTP client encoders and parsers
 * produce and accept the right bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest/decode_json.h"
#include "sim/sim_models.h"
#include "sim/sim_proto.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define T0 INT64_C(1717977600000) /* 2024-06-10 00:00 UTC, a Monday */
#define STEP 5000
#define DAY_STEPS (86400000 / STEP)

static int metric_index(sim_type t, const char *name)
{
    int n;
    const sim_metric_desc *d = sim_metrics(t, &n);
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0) return i;
    fail_msg("no metric %s", name);
    return -1;
}

static void test_rng_is_deterministic_and_uniform(void **state)
{
    sim_rng a, b;
    sim_rng_seed(&a, 42);
    sim_rng_seed(&b, 42);
    double sum = 0, sumsq = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = sim_rng_next(&a);
        assert_true(x == sim_rng_next(&b));
        double u = sim_rng_uniform(&a);
        (void)sim_rng_uniform(&b);
        assert_true(u >= 0 && u < 1);
        double z = sim_rng_normal(&a);
        (void)sim_rng_normal(&b);
        sum += z;
        sumsq += z * z;
    }
    assert_true(fabs(sum / 100000) < 0.02);
    assert_true(fabs(sumsq / 100000 - 1) < 0.03);
    sim_rng_seed(&b, 43);
    assert_true(sim_rng_next(&a) != sim_rng_next(&b));
}

static void test_same_seed_gives_same_series(void **state)
{
    for (int t = 0; t < SIM_TYPE_COUNT; t++) {
        sim_model a, b, c;
        sim_model_init(&a, (sim_type)t, sim_site_get(0), 7);
        sim_model_init(&b, (sim_type)t, sim_site_get(0), 7);
        sim_model_init(&c, (sim_type)t, sim_site_get(0), 8);
        bool differs = false;
        for (int i = 0; i < 500; i++) {
            sim_sample sa, sb, sc;
            sim_model_step(&a, T0 + i * STEP, &sa);
            sim_model_step(&b, T0 + i * STEP, &sb);
            sim_model_step(&c, T0 + i * STEP, &sc);
            assert_int_equal(sa.n, sb.n);
            for (int k = 0; k < sa.n; k++) {
                assert_true(sa.value[k] == sb.value[k]);
                if (sa.value[k] != sc.value[k]) differs = true;
            }
        }
        assert_true(differs);
    }
}

/* A week of 5 s samples for many devices of every type at every site. */
static void test_values_stay_in_physical_ranges(void **state)
{
    for (int t = 0; t < SIM_TYPE_COUNT; t++) {
        for (size_t site = 0; site < sim_site_count(); site++) {
            sim_model m;
            sim_model_init(&m, (sim_type)t, sim_site_get(site), 1000 + site);
            for (int i = 0; i < 7 * DAY_STEPS; i += 3) {
                sim_sample s;
                sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
                for (int k = 0; k < s.n; k++) {
                    double v = s.value[k];
                    assert_true(isfinite(v));
                    assert_true(v >= s.desc[k]->lo && v <= s.desc[k]->hi);
                }
            }
        }
    }
    /* tighter, type-specific plausibility */
    sim_model m;
    sim_model_init(&m, SIM_THERMOSTAT, sim_site_get(0), 5);
    for (int i = 0; i < 2 * DAY_STEPS; i++) {
        sim_sample s;
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        assert_true(s.value[0] > 12 && s.value[0] < 30); /* indoor temperature */
        assert_true(s.value[1] >= 15 && s.value[1] <= 85);
    }
    sim_model_init(&m, SIM_POWER_METER, sim_site_get(0), 5);
    for (int i = 0; i < 2 * DAY_STEPS; i++) {
        sim_sample s;
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        assert_true(s.value[0] > 215 && s.value[0] < 240); /* 230 V mains */
        assert_true(s.value[2] >= 0.6 && s.value[2] <= 1.0);
        assert_true(fabs(s.value[5] - 50) < 0.2);
    }
    sim_model_init(&m, SIM_AIR_QUALITY, sim_site_get(0), 5);
    for (int i = 0; i < 2 * DAY_STEPS; i++) {
        sim_sample s;
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        assert_true(s.value[0] >= 380 && s.value[0] < 2500); /* CO2 ppm */
    }
}

static double mean_at_hours(sim_type t, const char *metric, double h_from, double h_to, int days,
                            uint64_t seed)
{
    sim_model m;
    const sim_site *site = sim_site_get(0); /* UTC+1 */
    sim_model_init(&m, t, site, seed);
    int k = metric_index(t, metric);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < days * DAY_STEPS; i++) {
        int64_t ts = T0 + (int64_t)i * STEP;
        sim_sample s;
        sim_model_step(&m, ts, &s);
        double h = sim_local_hour(site, ts);
        if (i > DAY_STEPS / 4 && h >= h_from && h < h_to) {
            sum += s.value[k];
            n++;
        }
    }
    assert_true(n > 0);
    return sum / n;
}

static void test_daily_seasonality_follows_occupancy(void **state)
{
    /* Monday..Friday: busy afternoons, quiet nights */
    double day = mean_at_hours(SIM_POWER_METER, "current", 11, 16, 5, 3);
    double night = mean_at_hours(SIM_POWER_METER, "current", 1, 5, 5, 3);
    assert_true(day > night * 1.8);
    day = mean_at_hours(SIM_AIR_QUALITY, "co2_ppm", 11, 16, 5, 3);
    night = mean_at_hours(SIM_AIR_QUALITY, "co2_ppm", 1, 5, 5, 3);
    assert_true(day - night > 120);
    day = mean_at_hours(SIM_GATEWAY, "clients", 11, 16, 5, 3);
    night = mean_at_hours(SIM_GATEWAY, "clients", 1, 5, 5, 3);
    assert_true(day > night * 3);
    day = mean_at_hours(SIM_CAMERA, "bitrate_kbps", 11, 16, 5, 3);
    night = mean_at_hours(SIM_CAMERA, "bitrate_kbps", 1, 5, 5, 3);
    assert_true(day > night * 1.3);
    day = mean_at_hours(SIM_THERMOSTAT, "setpoint", 11, 16, 5, 3);
    night = mean_at_hours(SIM_THERMOSTAT, "setpoint", 1, 5, 5, 3);
    assert_true(day - night >= 2);
    /* the site's local time: the occupancy peak moves with the time zone */
    const sim_site *ber = sim_site_get(0), *aus = sim_site_get(2);
    int64_t noon_utc = T0 + 12 * 3600000LL;
    assert_true(sim_occupancy(ber, noon_utc) > 0.7);
    assert_true(sim_occupancy(aus, noon_utc) < 0.1); /* 06:00 in Austin */
    /* weekends are quiet: 2024-06-15 is a Saturday */
    assert_true(sim_occupancy(ber, T0 + 5 * 86400000LL + 12 * 3600000LL) < 0.3);
}

static void test_power_is_voltage_times_current_times_pf(void **state)
{
    sim_model m;
    sim_model_init(&m, SIM_POWER_METER, sim_site_get(3), 11);
    for (int i = 0; i < DAY_STEPS; i++) {
        sim_sample s;
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        double expect = s.value[0] * s.value[1] * s.value[2];
        assert_true(fabs(s.value[3] - expect) <= 1e-9 * expect);
    }
}

static void test_humidity_falls_when_temperature_rises(void **state)
{
    /* the thermostat's humidity is anti-correlated with its temperature error */
    sim_model m;
    sim_model_init(&m, SIM_THERMOSTAT, sim_site_get(0), 21);
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    int n = 0;
    for (int i = 0; i < 3 * DAY_STEPS; i++) {
        sim_sample s;
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        double x = s.value[0] - s.value[2], y = s.value[1];
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
        n++;
    }
    double cov = sxy / n - sx / n * sy / n;
    double r = cov / sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
    assert_true(r < -0.2);
}

static void test_counters_are_monotonic_even_with_faults_and_gaps(void **state)
{
    for (int t = 0; t < SIM_TYPE_COUNT; t++) {
        sim_model m;
        sim_model_init(&m, (sim_type)t, sim_site_get(1), 99);
        int n;
        const sim_metric_desc *d = sim_metrics((sim_type)t, &n);
        double prev[SIM_MAX_METRICS];
        int64_t ts = T0;
        for (int i = 0; i < 2 * DAY_STEPS; i++) {
            if (i % 500 == 0)
                sim_model_fault(&m, (sim_fault)(SIM_FAULT_SPIKE + (i / 500) % 4), ts, NULL);
            ts += (i % 3000 == 2999) ? 600000 : STEP; /* an occasional 10 min gap */
            sim_sample s;
            sim_model_step(&m, ts, &s);
            for (int k = 0; k < n; k++) {
                if (d[k].counter && i > 0) assert_true(s.value[k] >= prev[k]);
                prev[k] = s.value[k];
            }
        }
    }
    /* and they do count: a day of a power meter adds plausible energy */
    sim_model m;
    sim_model_init(&m, SIM_POWER_METER, sim_site_get(0), 3);
    sim_sample first, s;
    sim_model_step(&m, T0, &first);
    for (int i = 1; i <= DAY_STEPS; i++)
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
    double kwh = s.value[4] - first.value[4];
    assert_true(kwh > 10 && kwh < 2000);
    /* the door sensor's battery only goes down */
    sim_model_init(&m, SIM_DOOR_SENSOR, sim_site_get(0), 3);
    double bat = 101;
    for (int i = 0; i < DAY_STEPS; i++) {
        sim_model_step(&m, T0 + (int64_t)i * STEP, &s);
        assert_true(s.value[2] <= bat);
        bat = s.value[2];
    }
}

/* Runs a faulted model and its clean twin; returns the max |difference| inside [from, to) and
 * asserts the series are identical outside. */
static double fault_effect(sim_type t, const sim_fault_info *f, int steps, int64_t from, int64_t to,
                           double *min_inside)
{
    sim_model a, b;
    sim_model_init(&a, t, sim_site_get(0), 77);
    sim_model_init(&b, t, sim_site_get(0), 77);
    double maxd = 0, mind = INFINITY;
    for (int i = 0; i < steps; i++) {
        int64_t ts = T0 + (int64_t)i * STEP;
        if (ts == f->start_ms) assert_int_equal(sim_model_fault_set(&a, f), 0);
        sim_sample sa, sb;
        sim_model_step(&a, ts, &sa);
        sim_model_step(&b, ts, &sb);
        for (int k = 0; k < sa.n; k++) {
            double diff = fabs(sa.value[k] - sb.value[k]);
            if (ts >= from && ts < to && k == f->metric) {
                if (diff > maxd) maxd = diff;
                if (diff < mind) mind = diff;
            } else {
                assert_true(diff == 0);
            }
        }
    }
    if (min_inside) *min_inside = mind;
    return maxd;
}

static void test_spike_changes_one_sample(void **state)
{
    int k = metric_index(SIM_AIR_QUALITY, "co2_ppm");
    int64_t at = T0 + 100 * STEP;
    sim_fault_info f = {SIM_FAULT_SPIKE, k, at, at, 800};
    double mind, maxd = fault_effect(SIM_AIR_QUALITY, &f, 300, at, at + 1, &mind);
    assert_true(fabs(maxd - 800) < 1e-6);
}

static void test_level_shift_offsets_the_window_only(void **state)
{
    int k = metric_index(SIM_THERMOSTAT, "temp");
    int64_t at = T0 + 50 * STEP, end = at + 120 * STEP;
    sim_fault_info f = {SIM_FAULT_LEVEL_SHIFT, k, at, end, 3.0};
    double mind, maxd = fault_effect(SIM_THERMOSTAT, &f, 400, at, end, &mind);
    assert_true(fabs(maxd - 3.0) < 1e-9 && fabs(mind - 3.0) < 1e-9);
}

static void test_stuck_value_is_frozen(void **state)
{
    int k = metric_index(SIM_POWER_METER, "voltage");
    int64_t at = T0 + 60 * STEP, end = at + 100 * STEP;
    sim_fault_info f = {SIM_FAULT_STUCK, k, at, end, 0};
    sim_model m;
    sim_model_init(&m, SIM_POWER_METER, sim_site_get(0), 77);
    double before = 0, stuck = NAN;
    for (int i = 0; i < 300; i++) {
        int64_t ts = T0 + (int64_t)i * STEP;
        if (ts == at) sim_model_fault_set(&m, &f);
        sim_sample s;
        sim_model_step(&m, ts, &s);
        if (ts == at - STEP) before = s.value[k];
        if (ts >= at && ts < end) {
            assert_true(s.value[k] == before); /* the last good reading, repeated */
            stuck = s.value[k];
        }
    }
    assert_false(isnan(stuck));
    assert_false(sim_model_fault_active(&m));
    /* outside the window it is the clean series */
    fault_effect(SIM_POWER_METER, &f, 300, at, end, NULL);
}

static void test_drift_grows_linearly(void **state)
{
    int k = metric_index(SIM_AIR_QUALITY, "pm25");
    int64_t at = T0 + 10 * STEP, end = at + 200 * STEP;
    sim_fault_info f = {SIM_FAULT_DRIFT, k, at, end, 40};
    sim_model a, b;
    sim_model_init(&a, SIM_AIR_QUALITY, sim_site_get(0), 5);
    sim_model_init(&b, SIM_AIR_QUALITY, sim_site_get(0), 5);
    for (int i = 0; i < 300; i++) {
        int64_t ts = T0 + (int64_t)i * STEP;
        if (ts == at) sim_model_fault_set(&a, &f);
        sim_sample sa, sb;
        sim_model_step(&a, ts, &sa);
        sim_model_step(&b, ts, &sb);
        double expect = ts >= at && ts < end ? 40.0 * (double)(ts - at) / (double)(end - at) : 0;
        assert_true(fabs((sa.value[k] - sb.value[k]) - expect) < 1e-9);
    }
    fault_effect(SIM_AIR_QUALITY, &f, 300, at + 1, end, NULL); /* nothing else changes */
}

static void test_random_faults_target_analog_metrics_visibly(void **state)
{
    for (int t = 0; t < SIM_TYPE_COUNT; t++) {
        sim_model m;
        sim_model_init(&m, (sim_type)t, sim_site_get(0), 4);
        int n;
        const sim_metric_desc *d = sim_metrics((sim_type)t, &n);
        sim_sample s;
        sim_model_step(&m, T0, &s);
        for (int kind = SIM_FAULT_SPIKE; kind <= SIM_FAULT_DRIFT; kind++) {
            for (int rep = 0; rep < 20; rep++) {
                sim_fault_info fi;
                assert_int_equal(sim_model_fault(&m, (sim_fault)kind, T0 + STEP, &fi), 0);
                assert_int_equal(fi.kind, kind);
                assert_false(d[fi.metric].counter || d[fi.metric].discrete);
                assert_true(fi.end_ms >= fi.start_ms);
                if (kind == SIM_FAULT_SPIKE) assert_true(fi.end_ms == fi.start_ms);
                if (kind == SIM_FAULT_LEVEL_SHIFT || kind == SIM_FAULT_STUCK)
                    assert_true(fi.end_ms - fi.start_ms >= 5 * 60000 &&
                                fi.end_ms - fi.start_ms <= 20 * 60000);
                if (kind != SIM_FAULT_STUCK)
                    assert_true(fabs(fi.magnitude) >= 4 * d[fi.metric].scale);
            }
        }
    }
    sim_model m;
    sim_model_init(&m, SIM_CAMERA, NULL, 1);
    assert_int_equal(sim_model_fault(&m, SIM_FAULT_DROPOUT, T0, NULL), -1);
    sim_fault_info bad = {SIM_FAULT_SPIKE, 99, T0, T0, 1};
    assert_int_equal(sim_model_fault_set(&m, &bad), -1);
}

static void test_a_fault_on_a_chosen_metric(void **state)
{
    sim_model m;
    sim_model_init(&m, SIM_THERMOSTAT, sim_site_get(0), 7);
    sim_sample s;
    sim_model_step(&m, T0, &s);
    int temp = metric_index(SIM_THERMOSTAT, "temp");
    for (int rep = 0; rep < 20; rep++) {
        sim_fault_info fi;
        assert_int_equal(sim_model_fault_on(&m, SIM_FAULT_SPIKE, temp, T0 + STEP, &fi), 0);
        assert_int_equal(fi.metric, temp);
        assert_true(fabs(fi.magnitude) >= 6 * 0.5 && fabs(fi.magnitude) <= 12 * 0.5);
    }
    /* the spike is in the next sample, on that metric only */
    sim_model clean = m;
    clean.fault.kind = SIM_FAULT_NONE;
    sim_sample a, b;
    sim_model_step(&m, T0 + STEP, &a);
    sim_model_step(&clean, T0 + STEP, &b);
    for (int i = 0; i < a.n; i++)
        if (i == temp)
            assert_true(fabs(a.value[i] - b.value[i]) >= 2.9);
        else
            assert_true(a.value[i] == b.value[i]);
    /* a counter, a discrete state and a metric out of range are refused */
    assert_int_equal(
        sim_model_fault_on(&m, SIM_FAULT_SPIKE, metric_index(SIM_THERMOSTAT, "setpoint"), T0, NULL),
        -1);
    assert_int_equal(sim_model_fault_on(&m, SIM_FAULT_SPIKE, 99, T0, NULL), -1);
    sim_model pm;
    sim_model_init(&pm, SIM_POWER_METER, sim_site_get(0), 7);
    assert_int_equal(sim_model_fault_on(&pm, SIM_FAULT_DRIFT,
                                        metric_index(SIM_POWER_METER, "energy_kwh"), T0, NULL),
                     -1);
}

static void test_fault_roll_matches_documented_rates(void **state)
{
    sim_rng r;
    sim_rng_seed(&r, 9);
    int counts[SIM_FAULT_COUNT] = {0};
    const int minutes = 2000000;
    for (int i = 0; i < minutes; i++)
        counts[sim_fault_roll(&r, SIM_CAMERA, true, 60)]++;
    double total = 0;
    for (int f = 1; f < SIM_FAULT_COUNT; f++)
        total += sim_fault_rate((sim_fault)f, SIM_CAMERA, true);
    double expect_any = (1 - exp(-total)) * minutes;
    assert_true(fabs((minutes - counts[0]) - expect_any) < 0.05 * expect_any);
    for (int f = 1; f < SIM_FAULT_COUNT; f++) {
        double expect = expect_any * sim_fault_rate((sim_fault)f, SIM_CAMERA, true) / total;
        assert_true(fabs(counts[f] - expect) < 0.15 * expect + 30);
    }
    /* an HTTP device never gets an ACL violation, only cameras get compromised */
    assert_true(sim_fault_rate(SIM_FAULT_ACL, SIM_THERMOSTAT, false) == 0);
    assert_true(sim_fault_rate(SIM_FAULT_RATE_BURST, SIM_THERMOSTAT, true) == 0);
    for (int i = 0; i < 200000; i++) {
        sim_fault f = sim_fault_roll(&r, SIM_GATEWAY, false, 60);
        assert_true(f != SIM_FAULT_ACL && f != SIM_FAULT_RATE_BURST);
    }
    assert_int_equal(sim_fault_roll(&r, SIM_GATEWAY, true, 0), SIM_FAULT_NONE);
    assert_string_equal(sim_fault_name(SIM_FAULT_ACL), "acl_violation");
}

static void test_payloads_are_accepted_by_the_ingest_decoder(void **state)
{
    char buf[8192];
    int64_t ts[3];
    sim_sample s[3];
    for (int t = 0; t < SIM_TYPE_COUNT; t++) {
        sim_model m;
        sim_model_init(&m, (sim_type)t, sim_site_get(4), 12);
        for (int i = 0; i < 3; i++) {
            ts[i] = T0 + i * STEP;
            sim_model_step(&m, ts[i], &s[i]);
        }
        int n = sim_format_sample(buf, sizeof buf, ts[0], &s[0]);
        assert_true(n > 0 && (size_t)n == strlen(buf));
        ingest_batch b;
        ingest_batch_init(&b, 100);
        ingest_error err = {0};
        assert_int_equal(ingest_decode_json(buf, (size_t)n, T0, &b, &err), INGEST_OK);
        assert_int_equal(b.n, (size_t)s[0].n);
        for (size_t k = 0; k < b.n; k++) {
            assert_true(b.v[k].ts_ms == ts[0]);
            assert_string_equal(b.v[k].metric, s[0].desc[k]->name);
            double tol = 0.51 * pow(10, -s[0].desc[k]->decimals);
            assert_true(fabs(b.v[k].value - s[0].value[k]) <= tol);
        }
        ingest_batch_reset(&b);
        n = sim_format_batch(buf, sizeof buf, ts, s, 3);
        assert_true(n > 0 && buf[0] == '[');
        assert_int_equal(ingest_decode_json(buf, (size_t)n, T0, &b, &err), INGEST_OK);
        assert_int_equal(b.n, (size_t)(s[0].n * 3));
        ingest_batch_free(&b);
    }
    assert_int_equal(sim_format_sample(buf, 20, T0, &s[0]), -1);
    assert_int_equal(sim_format_batch(buf, 50, ts, s, 3), -1);
}

static void test_bad_payloads_are_refused_by_the_ingest_decoder(void **state)
{
    sim_rng r;
    sim_rng_seed(&r, 1);
    bool seen[5] = {false};
    static const char *const kinds[] = {"string_value", "truncated", "nan", "reserved_metric",
                                        "garbage"};
    for (int i = 0; i < 200; i++) {
        char buf[256];
        const char *kind = NULL;
        int n = sim_format_bad(buf, sizeof buf, &r, T0, &kind);
        assert_true(n > 0);
        for (int k = 0; k < 5; k++)
            if (strcmp(kind, kinds[k]) == 0) seen[k] = true;
        ingest_batch b;
        ingest_batch_init(&b, 100);
        ingest_error err = {0};
        assert_int_not_equal(ingest_decode_json(buf, (size_t)n, T0, &b, &err), INGEST_OK);
        assert_int_equal(b.n, 0);
        ingest_batch_free(&b);
    }
    for (int k = 0; k < 5; k++)
        assert_true(seen[k]);
}

static void test_device_meta_spreads_types_and_sites(void **state)
{
    int per_type[SIM_TYPE_COUNT] = {0};
    char names[60][96];
    for (size_t i = 0; i < 60; i++) {
        sim_meta m;
        sim_device_meta(i, &m);
        per_type[m.type]++;
        assert_true(strlen(m.name) > 5 && strlen(m.location) > 5 && strlen(m.firmware) > 3);
        assert_non_null(strstr(m.location, m.site->name));
        snprintf(names[i], sizeof names[i], "%s", m.name);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]); /* unique names */
        sim_type t;
        assert_int_equal(sim_type_parse(sim_type_name(m.type), &t), 0);
        assert_int_equal(t, m.type);
    }
    for (int t = 0; t < SIM_TYPE_COUNT; t++)
        assert_int_equal(per_type[t], 10);
    sim_type t;
    assert_int_equal(sim_type_parse("toaster", &t), -1);
}

/* ---- Protocol helpers ---- */

static void test_mqtt_connect_v311_bytes(void **state)
{
    uint8_t buf[128];
    size_t n = sim_mqtt_connect(buf, sizeof buf, 4, "c", "u", "p", 30);
    static const uint8_t want[] = {0x10, 19, 0, 4,   'M', 'Q', 'T', 'T', 4, 0xc2, 0,
                                   30,   0,  1, 'c', 0,   1,   'u', 0,   1, 'p'};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(sim_mqtt_connect(buf, 10, 4, "c", "u", "p", 30), 0);
}

static void test_mqtt_connect_v5_has_empty_properties(void **state)
{
    uint8_t buf[128];
    size_t n = sim_mqtt_connect(buf, sizeof buf, 5, "c", "u", "p", 30);
    assert_int_equal(n, 22);
    assert_int_equal(buf[1], 20);
    assert_int_equal(buf[8], 5);   /* protocol level */
    assert_int_equal(buf[11], 30); /* keep-alive low byte */
    assert_int_equal(buf[12], 0);  /* property length */
    assert_int_equal(buf[13], 0);  /* client id length msb */
}

static void test_mqtt_publish_qos1_and_long_remaining_length(void **state)
{
    uint8_t buf[512];
    size_t n = sim_mqtt_publish(buf, sizeof buf, 4, "a/b", 1, 0x1234, "xy", 2);
    static const uint8_t want[] = {0x32, 9, 0, 3, 'a', '/', 'b', 0x12, 0x34, 'x', 'y'};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    n = sim_mqtt_publish(buf, sizeof buf, 5, "t", 0, 0, "z", 1);
    static const uint8_t want5[] = {0x30, 5, 0, 1, 't', 0, 'z'};
    assert_int_equal(n, sizeof want5);
    assert_memory_equal(buf, want5, sizeof want5);
    char payload[300];
    memset(payload, 'p', sizeof payload);
    n = sim_mqtt_publish(buf, sizeof buf, 4, "t", 0, 0, payload, sizeof payload);
    assert_int_equal(n, 1 + 2 + 3 + 300);
    assert_int_equal(buf[1], (303 % 128) | 0x80);
    assert_int_equal(buf[2], 303 / 128);
    assert_int_equal(buf[3], 0);
    assert_int_equal(buf[5], 't');
    assert_int_equal(sim_mqtt_publish(buf, sizeof buf, 4, "t", 1, 0, "x", 1), 0); /* no id */
    assert_int_equal(sim_mqtt_publish(buf, 100, 4, "t", 0, 0, payload, sizeof payload), 0);
}

static void test_mqtt_parse_server_packets(void **state)
{
    sim_mqtt_packet p;
    static const uint8_t connack[] = {0x20, 2, 1, 0x00};
    assert_int_equal(sim_mqtt_parse(connack, 4, 4, &p), 4);
    assert_int_equal(p.type, SIM_MQTT_CONNACK);
    assert_true(p.session_present && p.rc == 0 && sim_mqtt_connack_ok(p.rc));
    static const uint8_t connack5[] = {0x20, 5, 0, 0x86, 2, 0x21, 0x00};
    assert_int_equal(sim_mqtt_parse(connack5, 5, 5, &p), 0); /* incomplete */
    assert_int_equal(sim_mqtt_parse(connack5, sizeof connack5, 5, &p), 7);
    assert_int_equal(p.rc, 0x86);
    assert_false(sim_mqtt_connack_ok(p.rc));
    static const uint8_t puback5[] = {0x40, 3, 0x00, 0x07, 0x87};
    assert_int_equal(sim_mqtt_parse(puback5, sizeof puback5, 5, &p), 5);
    assert_true(p.type == SIM_MQTT_PUBACK && p.packet_id == 7 && p.rc == 0x87);
    static const uint8_t puback[] = {0x40, 2, 0x01, 0x00, 0xd0, 0x00};
    assert_int_equal(sim_mqtt_parse(puback, sizeof puback, 4, &p), 4);
    assert_true(p.packet_id == 256 && p.rc == 0);
    assert_int_equal(sim_mqtt_parse(puback + 4, 2, 4, &p), 2);
    assert_int_equal(p.type, SIM_MQTT_PINGRESP);
    static const uint8_t disc5[] = {0xe0, 1, 0x8e};
    assert_int_equal(sim_mqtt_parse(disc5, 3, 5, &p), 3);
    assert_true(p.type == SIM_MQTT_DISCONNECT && p.rc == 0x8e);
    /* malformed */
    static const uint8_t bad_len[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(sim_mqtt_parse(bad_len, sizeof bad_len, 4, &p), -1);
    static const uint8_t v3_long_connack[] = {0x20, 3, 0, 0, 0};
    assert_int_equal(sim_mqtt_parse(v3_long_connack, 5, 4, &p), -1);
    static const uint8_t pingreq[] = {0xc0, 0};
    assert_int_equal(sim_mqtt_parse(pingreq, 2, 4, &p), -1);
    assert_int_equal(sim_mqtt_parse(pingreq, 1, 4, &p), 0);
    uint8_t d[4];
    assert_int_equal(sim_mqtt_disconnect(d, sizeof d, 5), 3);
    assert_int_equal(sim_mqtt_disconnect(d, sizeof d, 4), 2);
    assert_int_equal(sim_mqtt_pingreq(d, sizeof d), 2);
    assert_int_equal(d[0], 0xc0);
}

static void test_http_request_and_responses(void **state)
{
    char buf[512];
    size_t n = sim_http_request(buf, sizeof buf, "127.0.0.1:8080", "/api/v1/ingest", "iotad_k", 42);
    assert_true(n > 0 && n == strlen(buf));
    assert_non_null(strstr(buf, "POST /api/v1/ingest HTTP/1.1\r\n"));
    assert_non_null(strstr(buf, "\r\nX-API-Key: iotad_k\r\n"));
    assert_non_null(strstr(buf, "\r\nContent-Length: 42\r\n\r\n"));
    assert_int_equal(sim_http_request(buf, 20, "h", "/", "k", 1), 0);

    int status;
    bool ka;
    const char *r1 = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                     "Content-Length: 14\r\n\r\n{\"accepted\":3}HTTP/1.1 204";
    size_t full = strlen(r1) - strlen("HTTP/1.1 204");
    assert_int_equal(sim_http_response(r1, strlen(r1), &status, &ka), (int)full);
    assert_true(status == 202 && ka);
    assert_int_equal(sim_http_response(r1, full - 1, &status, &ka), 0); /* body incomplete */
    const char *r2 = "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}";
    assert_int_equal(sim_http_response(r2, strlen(r2), &status, &ka), (int)strlen(r2));
    assert_true(status == 400 && !ka);
    const char *r3 = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(sim_http_response(r3, strlen(r3), &status, &ka), (int)strlen(r3));
    const char *r4 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(sim_http_response(r4, strlen(r4), &status, &ka), -1);
    const char *r5 = "SMTP 220 hi\r\n\r\n";
    assert_int_equal(sim_http_response(r5, strlen(r5), &status, &ka), -1);
    const char *r6 = "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n";
    assert_int_equal(sim_http_response(r6, strlen(r6), &status, &ka), -1);
    const char *r7 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sim_http_response(r7, strlen(r7), &status, &ka), (int)strlen(r7));
    assert_false(ka);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_is_deterministic_and_uniform),
        cmocka_unit_test(test_same_seed_gives_same_series),
        cmocka_unit_test(test_values_stay_in_physical_ranges),
        cmocka_unit_test(test_daily_seasonality_follows_occupancy),
        cmocka_unit_test(test_power_is_voltage_times_current_times_pf),
        cmocka_unit_test(test_humidity_falls_when_temperature_rises),
        cmocka_unit_test(test_counters_are_monotonic_even_with_faults_and_gaps),
        cmocka_unit_test(test_spike_changes_one_sample),
        cmocka_unit_test(test_level_shift_offsets_the_window_only),
        cmocka_unit_test(test_stuck_value_is_frozen),
        cmocka_unit_test(test_drift_grows_linearly),
        cmocka_unit_test(test_a_fault_on_a_chosen_metric),
        cmocka_unit_test(test_random_faults_target_analog_metrics_visibly),
        cmocka_unit_test(test_fault_roll_matches_documented_rates),
        cmocka_unit_test(test_payloads_are_accepted_by_the_ingest_decoder),
        cmocka_unit_test(test_bad_payloads_are_refused_by_the_ingest_decoder),
        cmocka_unit_test(test_device_meta_spreads_types_and_sites),
        cmocka_unit_test(test_mqtt_connect_v311_bytes),
        cmocka_unit_test(test_mqtt_connect_v5_has_empty_properties),
        cmocka_unit_test(test_mqtt_publish_qos1_and_long_remaining_length),
        cmocka_unit_test(test_mqtt_parse_server_packets),
        cmocka_unit_test(test_http_request_and_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
