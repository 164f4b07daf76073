/* PDF rendering of a report document with cairo: a title block, the summary as a key/value
 * grid, then each section with its chart (horizontal bars for rankings and counts, a line
 * for values over time; drawn with cairo paths) and its table (first rows, text clipped to
 * the column). A4 pages, new page when the next block does not fit. Written to memory
 * through cairo's stream callback. */
#include "report/report_int.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_W 595.0
#define PAGE_H 842.0
#define MARGIN 42.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define MAX_TABLE_ROWS 25
#define MAX_BARS 12
#define FONT "DejaVu Sans"

typedef struct {
    cairo_t *cr;
    cairo_surface_t *surface;
    double y;
    int page;
    const char *footer;
} pdf;

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int length)
{
    rbuf *b = closure;
    rbuf_put(b, data, length);
    return b->oom ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

static void font(pdf *p, double size, bool bold)
{
    cairo_select_font_face(p->cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(p->cr, size);
}

static void rgb(pdf *p, double r, double g, double b)
{
    cairo_set_source_rgb(p->cr, r, g, b);
}

/* Draws text at (x, y baseline), cut to max_w with an ellipsis (on UTF-8 boundaries). */
static void text(pdf *p, double x, double y, const char *s, double max_w, bool right)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    cairo_text_extents_t e;
    cairo_text_extents(p->cr, buf, &e);
    size_t n = strlen(buf);
    while (max_w > 0 && e.x_advance > max_w && n > 0) {
        do
            n--;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80);
        if (n + 4 > sizeof buf) break;
        memcpy(buf + n, "\xE2\x80\xA6", 4); /* U+2026 */
        cairo_text_extents(p->cr, buf, &e);
    }
    cairo_move_to(p->cr, right ? x - e.x_advance : x, y);
    cairo_show_text(p->cr, buf);
}

static void footer(pdf *p)
{
    char s[160];
    font(p, 7.5, false);
    rgb(p, 0.45, 0.45, 0.45);
    snprintf(s, sizeof s, "%s  \xC2\xB7  page %d", p->footer, p->page);
    text(p, MARGIN, PAGE_H - 22, s, CONTENT_W, false);
}

static void new_page(pdf *p)
{
    footer(p);
    cairo_show_page(p->cr);
    p->page++;
    p->y = MARGIN;
}

static void need(pdf *p, double h)
{
    if (p->y + h > PAGE_H - MARGIN - 10) new_page(p);
}

static void value_text(const cJSON *v, char *out, size_t cap)
{
    if (cJSON_IsString(v)) {
        snprintf(out, cap, "%s", v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && fabs(d) < 9e15)
            snprintf(out, cap, "%lld", (long long)d);
        else
            snprintf(out, cap, "%.4g", d);
    } else if (cJSON_IsBool(v)) {
        snprintf(out, cap, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    } else if (cJSON_IsNull(v)) {
        snprintf(out, cap, "\xE2\x80\x93"); /* en dash */
    } else {
        char *t = cJSON_PrintUnformatted(v);
        snprintf(out, cap, "%s", t ? t : "");
        free(t);
    }
}

static void humanize(const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s", key);
    for (char *c = out; *c; c++)
        if (*c == '_') *c = ' ';
    if (out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 32);
}

/* "2026-11-26 08:00:07" */
static void human_time(double ms, char out[32])
{
    util_rfc3339((int64_t)ms, out);
    out[10] = ' ';
    out[19] = '\0';
}

static void title_block(pdf *p, const cJSON *doc)
{
    const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "title"));
    rgb(p, 0.12, 0.23, 0.45);
    cairo_rectangle(p->cr, 0, 0, PAGE_W, 6);
    cairo_fill(p->cr);
    font(p, 21, true);
    rgb(p, 0.1, 0.1, 0.1);
    text(p, MARGIN, p->y + 20, title ? title : "Report", CONTENT_W, false);
    p->y += 36;
    font(p, 9.5, false);
    rgb(p, 0.3, 0.3, 0.3);
    char line[256], gen[32], from[32], to[32];
    human_time(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "from")), from);
    human_time(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "to")), to);
    human_time(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "generated_at")), gen);
    snprintf(line, sizeof line, "Period %s \xE2\x80\x93 %s UTC    Generated %s UTC by iotad", from,
             to, gen);
    text(p, MARGIN, p->y, line, CONTENT_W, false);
    p->y += 13;
    const cJSON *f, *filters = cJSON_GetObjectItemCaseSensitive(doc, "filters");
    char fl[256] = "";
    size_t n = 0;
    cJSON_ArrayForEach(f, filters)
    {
        if (!cJSON_IsString(f) || !f->valuestring[0]) continue;
        int w =
            snprintf(fl + n, sizeof fl - n, "%s%s=%s", n ? ", " : "", f->string, f->valuestring);
        if (w < 0 || (size_t)w >= sizeof fl - n) break;
        n += (size_t)w;
    }
    char dl[300];
    snprintf(dl, sizeof dl, "Devices: %s", n ? fl : "all");
    text(p, MARGIN, p->y, dl, CONTENT_W, false);
    p->y += 18;
}

/* min_h: room needed below the title so it does not end a page on its own */
static void section_title(pdf *p, const char *t, double min_h)
{
    need(p, 25 + min_h);
    font(p, 13, true);
    rgb(p, 0.12, 0.23, 0.45);
    text(p, MARGIN, p->y + 12, t, CONTENT_W, false);
    p->y += 17;
    cairo_set_line_width(p->cr, 0.6);
    cairo_move_to(p->cr, MARGIN, p->y);
    cairo_line_to(p->cr, MARGIN + CONTENT_W, p->y);
    cairo_stroke(p->cr);
    p->y += 8;
}

static void summary_block(pdf *p, const cJSON *doc)
{
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(doc, "summary");
    if (!cJSON_GetArraySize(sum)) return;
    section_title(p, "Summary", 40);
    const double col_w = CONTENT_W / 2, row_h = 14;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, sum)
    {
        if (i % 2 == 0) need(p, row_h);
        double x = MARGIN + (i % 2) * col_w;
        char k[96], val[96];
        humanize(v->string, k, sizeof k);
        value_text(v, val, sizeof val);
        bool alarm = (cJSON_IsFalse(v) && strstr(v->string, "intact"));
        font(p, 9, false);
        rgb(p, 0.3, 0.3, 0.3);
        text(p, x, p->y + 10, k, col_w - 80, false);
        font(p, 9, true);
        if (alarm)
            rgb(p, 0.8, 0.1, 0.1);
        else
            rgb(p, 0.1, 0.1, 0.1);
        text(p, x + col_w - 12, p->y + 10, val, 70, true);
        if (i % 2 == 1) p->y += row_h;
        i++;
    }
    if (i % 2 == 1) p->y += row_h;
    p->y += 10;
}

/* Column indexes of the first string column (label) and the numeric columns of a table. */
static void chart_columns(const cJSON *cols, const cJSON *rows, int *label, int *nums, int *nnum,
                          int maxnum)
{
    *label = -1;
    *nnum = 0;
    const cJSON *first = cJSON_GetArrayItem(rows, 0);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, first)
    {
        if (cJSON_IsString(v) && *label < 0) *label = i;
        if (cJSON_IsNumber(v) && *nnum < maxnum) nums[(*nnum)++] = i;
        i++;
    }
    /* a readable name beats an id: prefer a "...name" column when the first row has one */
    i = 0;
    cJSON_ArrayForEach(v, cols)
    {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        const cJSON *cell = cJSON_GetArrayItem(first, i);
        if (n >= 4 && strcmp(v->valuestring + n - 4, "name") == 0 && cJSON_IsString(cell) &&
            cell->valuestring[0])
            *label = i;
        i++;
    }
}

static const double palette[][3] = {{0.18, 0.40, 0.75}, {0.85, 0.35, 0.20}, {0.30, 0.65, 0.35}};

static void bar_chart(pdf *p, const cJSON *sec)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(sec, "rows");
    int label, nums[1] = {0}, nnum;
    chart_columns(cJSON_GetObjectItemCaseSensitive(sec, "columns"), rows, &label, nums, &nnum, 1);
    if (nnum == 0) return;
    /* the section may name the column to chart */
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "chart_column"));
    int ci = 0;
    const cJSON *cn;
    cJSON_ArrayForEach(cn, cJSON_GetObjectItemCaseSensitive(sec, "columns"))
    {
        if (want && cJSON_IsString(cn) && strcmp(cn->valuestring, want) == 0) nums[0] = ci;
        ci++;
    }
    int n = cJSON_GetArraySize(rows);
    if (n > MAX_BARS) n = MAX_BARS;
    double max = 0;
    for (int i = 0; i < n; i++) {
        double v = cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), nums[0]));
        if (isfinite(v) && v > max) max = v;
    }
    const double bar_h = 13, label_w = 170, val_w = 50;
    const double area_w = CONTENT_W - label_w - val_w;
    need(p, n * bar_h + 22);
    const char *col = cJSON_GetStringValue(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sec, "columns"), nums[0]));
    font(p, 7.5, false);
    rgb(p, 0.45, 0.45, 0.45);
    char cap[96];
    snprintf(cap, sizeof cap, "bars: %s", col ? col : "value");
    text(p, MARGIN + label_w, p->y + 8, cap, area_w, false);
    p->y += 12;
    for (int i = 0; i < n; i++) {
        const cJSON *row = cJSON_GetArrayItem(rows, i);
        char lab[128], val[48];
        if (label >= 0)
            value_text(cJSON_GetArrayItem(row, label), lab, sizeof lab);
        else
            snprintf(lab, sizeof lab, "#%d", i + 1);
        const cJSON *vv = cJSON_GetArrayItem(row, nums[0]);
        double v = cJSON_GetNumberValue(vv);
        value_text(vv, val, sizeof val);
        font(p, 8, false);
        rgb(p, 0.2, 0.2, 0.2);
        text(p, MARGIN + label_w - 6, p->y + bar_h - 4, lab, label_w - 8, true);
        double w = max > 0 && isfinite(v) ? area_w * v / max : 0;
        if (w > 0 && w < 1) w = 1;
        rgb(p, palette[0][0], palette[0][1], palette[0][2]);
        cairo_rectangle(p->cr, MARGIN + label_w, p->y + 2, w, bar_h - 4);
        cairo_fill(p->cr);
        rgb(p, 0.2, 0.2, 0.2);
        text(p, MARGIN + label_w + w + 4, p->y + bar_h - 4, val, val_w + area_w - w, false);
        p->y += bar_h;
    }
    p->y += 8;
}

static void line_chart(pdf *p, const cJSON *sec)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(sec, "rows");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(sec, "columns");
    int label, nums[2] = {0, 0}, nnum;
    chart_columns(cols, rows, &label, nums, &nnum, 2);
    int n = cJSON_GetArraySize(rows);
    if (nnum == 0 || n == 0) return;
    const double h = 130, left = 46, x0 = MARGIN + left, w = CONTENT_W - left - 8;
    need(p, h + 50);
    double max = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nnum; k++) {
            double v =
                cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), nums[k]));
            if (isfinite(v) && v > max) max = v;
        }
    if (max <= 0) max = 1;
    double top = p->y + 16, bottom = top + h; /* the legend goes above the plot */
    /* grid and axis labels */
    cairo_set_line_width(p->cr, 0.4);
    font(p, 7, false);
    for (int g = 0; g <= 4; g++) {
        double gy = bottom - h * g / 4.0;
        rgb(p, 0.85, 0.85, 0.85);
        cairo_move_to(p->cr, x0, gy);
        cairo_line_to(p->cr, x0 + w, gy);
        cairo_stroke(p->cr);
        char lab[32];
        snprintf(lab, sizeof lab, "%.4g", max * g / 4.0);
        rgb(p, 0.4, 0.4, 0.4);
        text(p, x0 - 4, gy + 2.5, lab, left - 4, true);
    }
    for (int k = 0; k < nnum; k++) {
        rgb(p, palette[k][0], palette[k][1], palette[k][2]);
        cairo_set_line_width(p->cr, 1.4);
        for (int i = 0; i < n; i++) {
            double v =
                cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), nums[k]));
            if (!isfinite(v)) v = 0;
            double x = n == 1 ? x0 + w / 2 : x0 + w * i / (double)(n - 1);
            double y = bottom - h * v / max;
            if (i == 0)
                cairo_move_to(p->cr, x, y);
            else
                cairo_line_to(p->cr, x, y);
        }
        cairo_stroke(p->cr);
        if (n <= 60)
            for (int i = 0; i < n; i++) {
                double v =
                    cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), nums[k]));
                if (!isfinite(v)) v = 0;
                double x = n == 1 ? x0 + w / 2 : x0 + w * i / (double)(n - 1);
                cairo_arc(p->cr, x, bottom - h * v / max, 1.8, 0, 2 * M_PI);
                cairo_fill(p->cr);
            }
        /* legend */
        const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(cols, nums[k]));
        cairo_rectangle(p->cr, x0 + 4 + k * 110, top - 12, 8, 3);
        cairo_fill(p->cr);
        font(p, 7.5, false);
        rgb(p, 0.3, 0.3, 0.3);
        text(p, x0 + 15 + k * 110, top - 8, name ? name : "", 90, false);
    }
    rgb(p, 0.3, 0.3, 0.3);
    cairo_set_line_width(p->cr, 0.8);
    cairo_move_to(p->cr, x0, top);
    cairo_line_to(p->cr, x0, bottom);
    cairo_line_to(p->cr, x0 + w, bottom);
    cairo_stroke(p->cr);
    if (label >= 0) {
        char a[64], b[64];
        value_text(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), label), a, sizeof a);
        value_text(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, n - 1), label), b, sizeof b);
        font(p, 7, false);
        text(p, x0, bottom + 10, a, w / 2, false);
        if (n > 1) text(p, x0 + w, bottom + 10, b, w / 2, true);
    }
    p->y = bottom + 20;
}

static void table_row(pdf *p, const cJSON *row, bool header, int r, int ncols, const double *wts,
                      double total, double row_h)
{
    if (header || r % 2 == 1) {
        if (header)
            rgb(p, 0.92, 0.94, 0.97);
        else
            rgb(p, 0.97, 0.97, 0.97);
        cairo_rectangle(p->cr, MARGIN, p->y, CONTENT_W, row_h);
        cairo_fill(p->cr);
    }
    double x = MARGIN;
    for (int c = 0; c < ncols; c++) {
        double cw = CONTENT_W * wts[c] / total;
        char t[256];
        const cJSON *v = cJSON_GetArrayItem(row, c);
        value_text(v, t, sizeof t);
        bool num = !header && cJSON_IsNumber(v);
        font(p, 7.5, header);
        rgb(p, 0.15, 0.15, 0.15);
        text(p, num ? x + cw - 4 : x + 3, p->y + 8.7, t, cw - 6, num);
        x += cw;
    }
    p->y += row_h;
}

static void table(pdf *p, const cJSON *sec)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(sec, "columns");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(sec, "rows");
    int ncols = cJSON_GetArraySize(cols), nrows = cJSON_GetArraySize(rows);
    if (ncols == 0) return;
    if (nrows == 0) {
        need(p, 16);
        font(p, 8.5, false);
        rgb(p, 0.45, 0.45, 0.45);
        text(p, MARGIN, p->y + 9, "No data in this period.", CONTENT_W, false);
        p->y += 18;
        return;
    }
    /* width by the longest text of each column among the rows shown, within bounds */
    double wts[32] = {0}, total = 0;
    if (ncols > 32) ncols = 32;
    int shown = nrows < MAX_TABLE_ROWS ? nrows : MAX_TABLE_ROWS;
    for (int c = 0; c < ncols; c++) {
        const char *cn = cJSON_GetStringValue(cJSON_GetArrayItem(cols, c));
        size_t len = cn ? strlen(cn) : 0;
        for (int r = 0; r < shown; r++) {
            char t[128];
            value_text(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, r), c), t, sizeof t);
            if (strlen(t) > len) len = strlen(t);
        }
        wts[c] = len < 6 ? 6 : len > 40 ? 40 : (double)len;
        total += wts[c];
    }
    const double row_h = 12;
    need(p, row_h * 3);
    table_row(p, cols, true, -1, ncols, wts, total, row_h);
    for (int r = 0; r < shown; r++) {
        int page = p->page;
        need(p, row_h);
        if (p->page != page) table_row(p, cols, true, -1, ncols, wts, total, row_h);
        table_row(p, cJSON_GetArrayItem(rows, r), false, r, ncols, wts, total, row_h);
    }
    if (nrows > shown) {
        need(p, 12);
        font(p, 7.5, false);
        rgb(p, 0.45, 0.45, 0.45);
        char more[96];
        snprintf(more, sizeof more, "%d more rows in the CSV and JSON formats", nrows - shown);
        text(p, MARGIN, p->y + 9, more, CONTENT_W, false);
        p->y += 12;
    }
    p->y += 12;
}

unsigned char *report_render_pdf(const cJSON *doc, size_t *len)
{
    rbuf out = {0};
    pdf p = {.y = MARGIN, .page = 1};
    p.surface = cairo_pdf_surface_create_for_stream(write_cb, &out, PAGE_W, PAGE_H);
    if (cairo_surface_status(p.surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(p.surface);
        return NULL;
    }
    const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "title"));
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_TITLE, title ? title : "Report");
    cairo_pdf_surface_set_metadata(p.surface, CAIRO_PDF_METADATA_CREATOR, "iotad");
    p.cr = cairo_create(p.surface);
    char foot[128];
    snprintf(foot, sizeof foot, "iotad \xC2\xB7 %s", title ? title : "report");
    p.footer = foot;
    title_block(&p, doc);
    summary_block(&p, doc);
    const cJSON *sec;
    cJSON_ArrayForEach(sec, cJSON_GetObjectItemCaseSensitive(doc, "sections"))
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "title"));
        const char *ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "chart"));
        int nrows = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sec, "rows"));
        double min_h = ch && nrows && strcmp(ch, "line") == 0 ? 190
                       : ch && nrows ? 13.0 * (nrows < 12 ? nrows : 12) + 30
                                     : 40;
        section_title(&p, t ? t : sec->string, min_h);
        const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "note"));
        if (note) {
            font(&p, 8, false);
            rgb(&p, 0.4, 0.4, 0.4);
            text(&p, MARGIN, p.y + 6, note, CONTENT_W, false);
            p.y += 12;
        }
        const char *chart = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sec, "chart"));
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sec, "rows")) > 0 && chart) {
            if (strcmp(chart, "bar") == 0) bar_chart(&p, sec);
            if (strcmp(chart, "line") == 0) line_chart(&p, sec);
        }
        table(&p, sec);
    }
    footer(&p);
    cairo_show_page(p.cr);
    cairo_destroy(p.cr);
    cairo_surface_finish(p.surface);
    cairo_status_t st = cairo_surface_status(p.surface);
    cairo_surface_destroy(p.surface);
    if (st != CAIRO_STATUS_SUCCESS || out.oom || !out.p) {
        rbuf_free(&out);
        return NULL;
    }
    *len = out.n;
    return (unsigned char *)out.p;
}

void report_pdf_shutdown(void)
{
    cairo_debug_reset_static_data();
    /* fontconfig's own configuration outlives cairo's reset; FcFini frees it. Looked up at
     * run time because iotad links cairo only (fontconfig is cairo's dependency). */
    void *sym = dlsym(RTLD_DEFAULT, "FcFini");
    void (*fc_fini)(void);
    if (!sym) return;
    memcpy(&fc_fini, &sym, sizeof fc_fini);
    fc_fini();
}
