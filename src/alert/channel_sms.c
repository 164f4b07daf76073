/* SMS channel through an HTTP gateway. By default the Twilio Messages API: a form POST of
 * From, To and Body with basic auth (config.username = account SID, secret = auth token).
 * Other gateways: config.body_template with {from}, {to}, {body} placeholders and
 * config.content_type (values are form-encoded, or JSON-escaped when the type is JSON).
 * The text is fitted into one SMS (160 GSM characters). */
#include "alert/channel.h"
#include "alert/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *from, *to, *body;
} sms_vars;

static const char *sms_var(void *arg, const char *name, size_t len)
{
    const sms_vars *v = arg;
    if (len == 4 && !memcmp(name, "from", 4)) return v->from;
    if (len == 2 && !memcmp(name, "to", 2)) return v->to;
    if (len == 4 && !memcmp(name, "body", 4)) return v->body;
    return NULL;
}

int alert_sms_setup(alert_job *j, char *err, size_t errcap)
{
    const char *tmpl = ALERT_SMS_DEFAULT_TEMPLATE, *ctype = "application/x-www-form-urlencoded";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j->config, "body_template");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j->config, "content_type");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(j->config, "from");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j->config, "username");
    if (cJSON_IsString(t) && t->valuestring[0]) tmpl = t->valuestring;
    if (cJSON_IsString(ct) && ct->valuestring[0]) ctype = ct->valuestring;
    char text[161];
    alert_msg_sms(j->p, text, 160);
    sms_vars v = {cJSON_IsString(from) ? from->valuestring : "", j->recipient, text};
    size_t cap = strlen(tmpl) * 3 + 4096;
    j->body = malloc(cap);
    if (!j->body) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    alert_escape esc = strstr(ctype, "json") ? ALERT_ESC_JSON : ALERT_ESC_FORM;
    int n = alert_template_render(tmpl, strlen(tmpl), sms_var, &v, esc, j->body, cap);
    if (n < 0) {
        snprintf(err, errcap, "body_template: %s",
                 n == ALERT_TPL_EUNKNOWN ? "unknown placeholder" : "malformed or too long");
        return -1;
    }
    j->body_len = (size_t)n;
    char line[300];
    snprintf(line, sizeof line, "Content-Type: %s", ctype);
    j->headers = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "Idempotency-Key: %s", j->id);
    j->headers = curl_slist_append(j->headers, line);
    j->headers = curl_slist_append(j->headers, "Expect:");
    curl_easy_setopt(j->h, CURLOPT_URL, j->url);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    if (cJSON_IsString(user) && user->valuestring[0]) {
        curl_easy_setopt(j->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(j->h, CURLOPT_USERNAME, user->valuestring);
        curl_easy_setopt(j->h, CURLOPT_PASSWORD, j->secret);
    }
    return 0;
}
