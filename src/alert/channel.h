/* Delivery channels: one in-flight delivery (alert_job) and, per channel kind, how it becomes
 * a libcurl transfer. The message texts are derived from the alert's frozen payload (JSON), so
 * every retry sends the same content. */
#ifndef IOTAD_ALERT_CHANNEL_H
#define IOTAD_ALERT_CHANNEL_H

#include "core/util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct alert_job {
    struct alert_job *next;
    char id[UUID_STR_LEN + 1];
    char method[16];
    char recipient[512];
    char url[1024];
    char secret[512];
    cJSON *config; /* channel config, owned */
    char *payload; /* frozen JSON text, owned */
    cJSON *p;      /* parsed payload, owned */
    int attempt;
    int64_t started_ms;
    CURL *h;
    struct curl_slist *headers, *rcpt, *resolve;
    curl_mime *mime;
    char *body; /* request body, owned */
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
    /* syslog (no libcurl): its own non-blocking socket, driven by the worker's poll */
    struct sockaddr_storage addr; /* the SSRF-checked address */
    socklen_t addrlen;
    int fd;       /* -1 when closed */
    int sstate;   /* channel_syslog.c's state */
    short events; /* what the socket waits for (POLLIN/POLLOUT) */
    void *ssl;    /* SSL * of a tls:// channel */
    size_t sent;
} alert_job;

/* Sets up h for the job's channel kind; 0 ok, -1 with err filled. The job keeps every
 * buffer libcurl refers to until alert_job_free. */
int alert_webhook_setup(alert_job *j, int64_t now_s, char *err, size_t errcap);
int alert_smtp_setup(alert_job *j, char *err, size_t errcap);
int alert_sms_setup(alert_job *j, char *err, size_t errcap);
void alert_job_free(alert_job *j);

/* Syslog channel (udp://, tcp://, tls:// host:port; RFC 5424 messages with a CEF body):
 * setup formats the message and starts connecting to j->addr; step advances the transfer
 * (call it when the socket may be ready). Both return 1 delivered, 0 in progress (wait for
 * j->events on j->fd) or a failure with err filled: setup -1 permanent (configuration),
 * -2 worth a retry; step -1 with *permanent. close releases the socket and TLS state. */
int alert_syslog_setup(alert_job *j, int64_t now_ms, char *err, size_t errcap);
int alert_syslog_step(alert_job *j, char *err, size_t errcap, bool *permanent);
void alert_syslog_close(alert_job *j);
/* True when PEM text holds at least one certificate (config.ca_pem). */
bool alert_pem_has_cert(const char *pem);
/* The default port of a syslog url scheme (udp, tcp: 514; tls: 6514), 0 for other schemes. */
int alert_syslog_default_port(const char *scheme);

/* Message texts from a payload (message.c). Each returns malloc'ed text; caller frees. */
char *alert_msg_subject(const cJSON *p);
char *alert_msg_text(const cJSON *p);
char *alert_msg_html(const cJSON *p);
/* The SMS text, at most max bytes (one SMS = 160). out has max+1 bytes. */
void alert_msg_sms(const cJSON *p, char *out, size_t max);

/* Default SMS gateway body (Twilio Messages API form). */
#define ALERT_SMS_DEFAULT_TEMPLATE "From={from}&To={to}&Body={body}"

#endif
