/* E-mail channel over SMTP with libcurl: smtp:// (STARTTLS per config.starttls: "try"
 * default, "require" or "off") or smtps:// (implicit TLS), optional AUTH with
 * config.username and the channel secret. The message is multipart/alternative (plain text
 * and HTML), with a Message-ID derived from the alert id so a retried message can be
 * recognised as the same. */
#include "alert/channel.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 2047 encoded-word when the subject is not plain ASCII. */
static void subject_header(const char *subject, char *out, size_t cap)
{
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
        if (*p >= 0x80 || *p < 0x20) ascii = false;
    if (ascii) {
        snprintf(out, cap, "Subject: %s", subject);
        return;
    }
    size_t n = strlen(subject);
    if (n > 150) n = 150;
    unsigned char b64[256];
    EVP_EncodeBlock(b64, (const unsigned char *)subject, (int)n);
    snprintf(out, cap, "Subject: =?UTF-8?B?%s?=", b64);
}

int alert_smtp_setup(alert_job *j, char *err, size_t errcap)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(j->config, "from");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j->config, "username");
    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(j->config, "starttls");
    const char *sender =
        cJSON_IsString(from) && from->valuestring[0] ? from->valuestring : "iotad@localhost";
    char *subject = alert_msg_subject(j->p);
    char *text = alert_msg_text(j->p);
    char *html = alert_msg_html(j->p);
    int rc = -1;
    if (!subject || !text || !html) {
        snprintf(err, errcap, "out of memory");
        goto done;
    }
    char line[640], mailfrom[300];
    snprintf(mailfrom, sizeof mailfrom, "<%s>", sender);
    j->rcpt = curl_slist_append(NULL, j->recipient);
    snprintf(line, sizeof line, "From: iotad <%s>", sender);
    j->headers = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "To: <%s>", j->recipient);
    j->headers = curl_slist_append(j->headers, line);
    subject_header(subject, line, sizeof line);
    j->headers = curl_slist_append(j->headers, line);
    snprintf(line, sizeof line, "Message-ID: <%s@iotad>", j->id);
    j->headers = curl_slist_append(j->headers, line);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[64];
    strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);
    j->headers = curl_slist_append(j->headers, date);
    snprintf(line, sizeof line, "X-Iotad-Alert: %s", j->id);
    j->headers = curl_slist_append(j->headers, line);
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(j->p, "severity");
    snprintf(line, sizeof line, "X-Iotad-Severity: %s",
             cJSON_IsString(sev) ? sev->valuestring : "");
    j->headers = curl_slist_append(j->headers, line);

    j->mime = curl_mime_init(j->h);
    curl_mime *alt = curl_mime_init(j->h);
    curl_mimepart *part = curl_mime_addpart(alt);
    curl_mime_data(part, text, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/plain; charset=utf-8");
    curl_mime_encoder(part, "quoted-printable");
    part = curl_mime_addpart(alt);
    curl_mime_data(part, html, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/html; charset=utf-8");
    curl_mime_encoder(part, "quoted-printable");
    part = curl_mime_addpart(j->mime);
    curl_mime_subparts(part, alt);
    curl_mime_type(part, "multipart/alternative");
    curl_mime_headers(part, curl_slist_append(NULL, "Content-Disposition: inline"), 1);
    if (!j->rcpt || !j->headers) {
        snprintf(err, errcap, "out of memory");
        goto done;
    }
    curl_easy_setopt(j->h, CURLOPT_URL, j->url);
    curl_easy_setopt(j->h, CURLOPT_MAIL_FROM, mailfrom);
    curl_easy_setopt(j->h, CURLOPT_MAIL_RCPT, j->rcpt);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(j->h, CURLOPT_MIMEPOST, j->mime);
    const char *mode = cJSON_IsString(tls) ? tls->valuestring : "try";
    if (strncmp(j->url, "smtps:", 6) == 0 || strcmp(mode, "require") == 0)
        curl_easy_setopt(j->h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    else if (strcmp(mode, "off") != 0)
        curl_easy_setopt(j->h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (cJSON_IsString(user) && user->valuestring[0]) {
        curl_easy_setopt(j->h, CURLOPT_USERNAME, user->valuestring);
        curl_easy_setopt(j->h, CURLOPT_PASSWORD, j->secret);
    }
    rc = 0;
done:
    free(subject);
    free(text);
    free(html);
    return rc;
}
