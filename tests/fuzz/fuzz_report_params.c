/* libFuzzer driver for what the reports module parses from clients: the export `what` list
 * (first line of the input) and report parameters from a JSON body (the rest), which are then
 * rendered as a report document to CSV and back to JSON. Checks that accepted parameters are
 * consistent and that the renderers cope with any strings. */
#include "report/export.h"
#include "report/report_int.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t wlen = nl ? (size_t)(nl - (const char *)data) : size;
    char *what = malloc(wlen + 1);
    if (!what) return 0;
    memcpy(what, data, wlen);
    what[wlen] = '\0';
    unsigned bits = 0;
    if (export_what_parse(what, &bits) == 0)
        assert(bits != 0 && (bits & ~(unsigned)EXPORT_ALL) == 0);
    free(what);
    if (!nl) return 0;
    const char *body = nl + 1;
    size_t blen = size - wlen - 1;
    cJSON *j = cJSON_ParseWithLength(body, blen);
    report_params p;
    if (j && report_params_from_json(j, &p) == 0) {
        assert(p.from_ms < p.to_ms && (unsigned)p.kind < REPORT_KIND_COUNT);
        assert(strlen(p.device_type) < sizeof p.device_type && strlen(p.group) < sizeof p.group);
        cJSON *doc = rdoc_new(&p, "fuzz");
        static const char *const cols[] = {"a", "b", NULL};
        cJSON *rows = rdoc_section(doc, "s", p.group, "bar", cols);
        rdoc_row(rows, "ss", p.device_type, p.device_id);
        size_t len;
        char *csv = report_render_csv(doc, NULL, &len);
        assert(csv && strlen(csv) == len);
        free(csv);
        cJSON *back = report_params_json(&p);
        report_params q;
        assert(report_params_from_json(back, &q) == 0 && q.from_ms == p.from_ms);
        cJSON_Delete(back);
        cJSON_Delete(doc);
    }
    cJSON_Delete(j);
    return 0;
}
