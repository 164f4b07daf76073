/* Login, logout, sign-up, current user and password change. Password hashing and
 * verification (argon2id, tens of ms by design) run on libuv's thread pool so that a flood
 * of logins cannot stall the event loop that also serves ingest. Failed logins are
 * throttled per e-mail and per source address, with lockout; all outcomes are audited. */
#include "api/api.h"

#include "auth/password.h"
#include "auth/throttle.h"
#include "auth/token.h"
#include "core/log.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_COOKIE "iotad_session"

typedef struct {
    uv_work_t work;
    api_ctx ctx;
    char email[256];
    char password[257];
    char name[256];
    char role[32];
    char encoded[256]; /* stored hash (verify) or new hash (hash) */
    int result;
    int kind; /* 0 login, 1 signup, 2 change password */
} auth_job;

static void job_free(auth_job *j)
{
    http_conn_unref(j->ctx.c);
    explicit_bzero(j->password, sizeof j->password);
    free(j);
}

/* Secure: the browser sends the cookie over HTTPS only. auto: when the login came over
 * HTTPS (the cookie then never travels in clear, even to the plain listener). */
static bool cookie_secure(const api_ctx *ctx)
{
    const char *mode = ctx->s->cfg.cookie_secure;
    return !strcmp(mode, "on") || (!strcmp(mode, "auto") && ctx->req->tls);
}

static bool copy_field(const cJSON *body, const char *key, char *out, size_t cap)
{
    const char *v = json_str(body, key);
    if (!v || strlen(v) >= cap) return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

static cJSON *user_json(server *s, const char *user_id)
{
    return STORE_USERS(s->st)->profile(s->st, user_id);
}

/* Creates a session for user_id and answers 200 {token, user, expires_at} + cookie. */
static void start_session(api_ctx *ctx, const char *user_id)
{
    char token[128], hash[65];
    if (auth_token_new(token, sizeof token, hash) != 0) {
        api_error(ctx, 500, "internal", "could not create a session");
        return;
    }
    int64_t now = util_now_ms();
    int64_t expires = now + ctx->s->cfg.session_max_s * 1000;
    const char *ua = http_req_header(ctx->req, "user-agent");
    if (STORE_USERS(ctx->s->st)
            ->session_create(ctx->s->st, hash, user_id, now, expires, ctx->req->peer, ua) !=
        STORE_OK) {
        api_error(ctx, 500, "internal", "could not store the session");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddNumberToObject(o, "expires_at", (double)expires);
    cJSON_AddNumberToObject(o, "idle_timeout_s", (double)ctx->s->cfg.session_idle_s);
    cJSON *u = user_json(ctx->s, user_id);
    if (u) cJSON_AddItemToObject(o, "user", u);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "Set-Cookie: " SESSION_COOKIE
             "=%s; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=%lld\r\n"
             "Cache-Control: no-store\r\n",
             token, cookie_secure(ctx) ? "; Secure" : "", (long long)ctx->s->cfg.session_max_s);
    http_respond(ctx->c, 200, "application/json", cookie, text, strlen(text));
    explicit_bzero(token, sizeof token);
    free(text);
}

static void login_work(uv_work_t *w)
{
    auth_job *j = w->data;
    /* an unknown e-mail still costs one verification, so timing does not reveal accounts */
    j->result = j->encoded[0] ? auth_password_verify(j->encoded, j->password, strlen(j->password))
                              : (auth_password_dummy_verify(j->password, strlen(j->password)), -1);
}

static void throttle_keys(const api_ctx *ctx, const char *email, char *k1, char *k2, size_t cap)
{
    snprintf(k1, cap, "email:%s", email);
    const char *peer = ctx->req->peer ? ctx->req->peer : "";
    const char *colon = strrchr(peer, ':');
    snprintf(k2, cap, "ip:%.*s", colon ? (int)(colon - peer) : (int)strlen(peer), peer);
}

static void login_done(uv_work_t *w, int status)
{
    auth_job *j = w->data;
    api_ctx *ctx = &j->ctx;
    char k1[300], k2[300], user_id[UUID_STR_LEN + 1] = "";
    throttle_keys(ctx, j->email, k1, k2, sizeof k1);
    int64_t now = util_now_ms();
    if (http_conn_closed(ctx->c) || ctx->s->stopping) {
        job_free(j);
        return;
    }
    /* looked up again after the hash: the account may have been disabled meanwhile */
    char stored[sizeof j->encoded];
    bool disabled = false;
    bool known = STORE_USERS(ctx->s->st)
                     ->password_by_email(ctx->s->st, j->email, stored, sizeof stored, user_id,
                                         sizeof user_id, &disabled) == STORE_OK;
    explicit_bzero(stored, sizeof stored);
    if (status == 0 && j->result == 0 && known && !disabled) {
        auth_throttle_success(ctx->s->throttle, k1);
        snprintf(ctx->user_id, sizeof ctx->user_id, "%s", user_id);
        ctx->s->m.logins_ok++;
        api_audit(ctx, "auth.login", user_id, "");
        start_session(ctx, user_id);
    } else {
        auth_throttle_failure(ctx->s->throttle, k1, now);
        auth_throttle_failure(ctx->s->throttle, k2, now);
        ctx->s->m.logins_failed++;
        char detail[300];
        snprintf(detail, sizeof detail, "email=%s%s", j->email, disabled ? " (disabled)" : "");
        api_audit(ctx, "auth.login_failed", "", detail);
        api_error(ctx, 401, "invalid_credentials", "wrong e-mail or password");
    }
    job_free(j);
}

void api_login(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    auth_job *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(body);
        api_error(ctx, 500, "internal", "out of memory");
        return;
    }
    bool ok = copy_field(body, "email", j->email, sizeof j->email) &&
              copy_field(body, "password", j->password, sizeof j->password);
    cJSON_Delete(body);
    if (!ok) {
        free(j);
        api_error(ctx, 400, "bad_request", "email and password (strings) are required");
        return;
    }
    char k1[300], k2[300];
    throttle_keys(ctx, j->email, k1, k2, sizeof k1);
    int64_t now = util_now_ms(), retry1 = 0, retry2 = 0;
    if (auth_throttle_check(ctx->s->throttle, k1, now, &retry1) != 0 ||
        auth_throttle_check(ctx->s->throttle, k2, now, &retry2) != 0) {
        int64_t retry = (retry1 > retry2 ? retry1 : retry2) / 1000 + 1;
        ctx->s->m.logins_locked++;
        char detail[300];
        snprintf(detail, sizeof detail, "email=%s retry_after_s=%lld", j->email, (long long)retry);
        api_audit(ctx, "auth.login_locked", "", detail);
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        char hdr[64], text[160];
        snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n", (long long)retry);
        int n = snprintf(text, sizeof text,
                         "{\"error\":\"locked\",\"message\":\"too many failed logins; retry in "
                         "%lld s\"}",
                         (long long)retry);
        http_respond(ctx->c, 429, "application/json", hdr, text, (size_t)n);
        return;
    }
    if (STORE_USERS(ctx->s->st)
            ->password_by_email(ctx->s->st, j->email, j->encoded, sizeof j->encoded, NULL, 0,
                                NULL) != STORE_OK)
        j->encoded[0] = '\0'; /* unknown e-mail: login_work runs a dummy verification */
    j->ctx = *ctx;
    j->work.data = j;
    http_conn_ref(ctx->c);
    uv_queue_work(ctx->s->loop, &j->work, login_work, login_done);
}

void api_logout(api_ctx *ctx)
{
    STORE_USERS(ctx->s->st)->session_delete(ctx->s->st, ctx->session_hash);
    api_audit(ctx, "auth.logout", ctx->user_id, "");
    http_respond(ctx->c, 204, NULL,
                 cookie_secure(ctx) ? "Set-Cookie: " SESSION_COOKIE
                                      "=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0\r\n"
                                    : "Set-Cookie: " SESSION_COOKIE
                                      "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n",
                 NULL, 0);
}

void api_me(api_ctx *ctx)
{
    cJSON *u = user_json(ctx->s, ctx->user_id);
    if (!u) {
        api_error(ctx, 404, "not_found", "user not found");
        return;
    }
    api_json(ctx, 200, u);
}

static void hash_work(uv_work_t *w)
{
    auth_job *j = w->data;
    j->result = auth_password_hash(j->password, strlen(j->password), j->encoded, sizeof j->encoded);
}

static void signup_done(uv_work_t *w, int status)
{
    auth_job *j = w->data;
    api_ctx *ctx = &j->ctx;
    if (http_conn_closed(ctx->c)) {
        job_free(j);
        return;
    }
    if (status != 0 || j->result != 0) {
        api_error(ctx, 500, "internal", "password hashing failed");
        job_free(j);
        return;
    }
    if (j->kind == 2) {
        int64_t now = util_now_ms();
        STORE_USERS(ctx->s->st)->set_password(ctx->s->st, ctx->user_id, j->encoded, now);
        /* every other session of the user ends */
        STORE_USERS(ctx->s->st)->sessions_delete_user(ctx->s->st, ctx->user_id, ctx->session_hash);
        api_audit(ctx, "auth.password_changed", ctx->user_id, "");
        api_no_content(ctx);
        job_free(j);
        return;
    }
    char id[UUID_STR_LEN + 1];
    util_uuid7(id);
    int64_t now = util_now_ms();
    int rc = STORE_USERS(ctx->s->st)
                 ->create(ctx->s->st, id, j->name, j->email, j->encoded, j->role, now);
    if (j->kind == 1 && (rc == STORE_OK || rc == STORE_ECONSTRAINT)) {
        /* the same answer whether the address was free or taken, after the same work (one
         * hash, one insert), so sign-up does not tell who has an account; the new user logs
         * in next, which answers alike for a wrong password and an unknown address */
        char detail[300];
        snprintf(detail, sizeof detail, "email=%s role=%s", j->email, j->role);
        if (rc == 0) {
            ctx->s->m.signups_ok++;
            snprintf(ctx->user_id, sizeof ctx->user_id, "%s", id);
            api_audit(ctx, "auth.signup", id, detail);
        } else {
            api_audit(ctx, "auth.signup_existing", "", detail);
        }
        static const char accepted[] =
            "{\"status\":\"accepted\",\"message\":\"If this e-mail address can be registered, "
            "the account exists now: log in with it.\"}";
        http_respond(ctx->c, 202, "application/json", "Cache-Control: no-store\r\n", accepted,
                     sizeof accepted - 1);
    } else if (rc == STORE_ECONSTRAINT) {
        api_error(ctx, 409, "conflict", "an account with this e-mail already exists");
    } else if (rc != 0) {
        api_error(ctx, 500, "internal", "could not create the account");
    } else {
        char detail[300];
        snprintf(detail, sizeof detail, "email=%s role=%s", j->email, j->role);
        api_audit(ctx, "user.create", id, detail);
        api_json(ctx, 201, user_json(ctx->s, id));
    }
    job_free(j);
}

/* Shared by sign-up (kind 1: answers 202 alike for a new and a taken address) and Admin user
 * creation (kind 3: 201, or 409 for a taken address). */
void api_create_account(api_ctx *ctx, const cJSON *body, const char *role, int kind)
{
    auth_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_error(ctx, 500, "internal", "out of memory");
        return;
    }
    if (!copy_field(body, "email", j->email, sizeof j->email) ||
        !copy_field(body, "password", j->password, sizeof j->password)) {
        free(j);
        api_error(ctx, 400, "bad_request", "email and password (strings) are required");
        return;
    }
    if (!copy_field(body, "name", j->name, sizeof j->name)) {
        const char *at = strchr(j->email, '@');
        snprintf(j->name, sizeof j->name, "%.*s", at ? (int)(at - j->email) : 64, j->email);
    }
    const char *at = strchr(j->email, '@');
    if (!at || at == j->email || !strchr(at, '.') || strlen(j->email) > 254) {
        if (!(at && strcmp(at, "@localhost") == 0 && at != j->email)) {
            free(j);
            api_error(ctx, 400, "bad_request", "email is not a valid address");
            return;
        }
    }
    const char *why = NULL;
    if (auth_password_policy(j->password, strlen(j->password), j->email, &why) != 0) {
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        api_error(ctx, 400, "weak_password", "%s", why ? why : "password rejected by policy");
        return;
    }
    snprintf(j->role, sizeof j->role, "%s", role);
    j->kind = kind;
    j->ctx = *ctx;
    j->work.data = j;
    http_conn_ref(ctx->c);
    uv_queue_work(ctx->s->loop, &j->work, hash_work, signup_done);
}

void api_signup(api_ctx *ctx)
{
    const char *mode = ctx->s->cfg.signup; /* the setting, when an Admin changed it */
    if (strcmp(mode, "off") == 0) {
        api_error(ctx, 403, "signup_disabled", "self-registration is turned off");
        return;
    }
    /* every attempt counts against the source address, so addresses cannot be probed (or
     * accounts mass-created) faster than signup_per_hour */
    if (ctx->s->signups) {
        char k1[300], k2[300];
        int64_t now = util_now_ms(), retry = 0;
        throttle_keys(ctx, "", k1, k2, sizeof k1);
        if (auth_throttle_check(ctx->s->signups, k2, now, &retry) != 0) {
            ctx->s->m.signups_limited++;
            char hdr[64], text[160];
            snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n", (long long)(retry / 1000 + 1));
            int n = snprintf(text, sizeof text,
                             "{\"error\":\"rate_limited\",\"message\":\"too many sign-ups from "
                             "this address; retry in %lld s\"}",
                             (long long)(retry / 1000 + 1));
            http_respond(ctx->c, 429, "application/json", hdr, text, (size_t)n);
            return;
        }
        auth_throttle_failure(ctx->s->signups, k2, now);
    }
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    char role[32] = "device_owner";
    if (strcmp(mode, "invite") == 0) {
        const char *invite = json_str(body, "invite");
        char hash[65];
        if (!invite) {
            cJSON_Delete(body);
            api_error(ctx, 403, "invite_required", "sign-up is by invitation only");
            return;
        }
        auth_token_hash(invite, hash);
        int64_t now = util_now_ms();
        if (STORE_USERS(ctx->s->st)->invite_use(ctx->s->st, hash, now, role, sizeof role) !=
            STORE_OK) {
            cJSON_Delete(body);
            api_error(ctx, 403, "invite_invalid", "the invitation is unknown, used or expired");
            return;
        }
    }
    api_create_account(ctx, body, role, 1);
    cJSON_Delete(body);
}

void api_change_password(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *cur = json_str(body, "current_password");
    const char *next = json_str(body, "new_password");
    char encoded[256];
    if (!cur || !next) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "current_password and new_password are required");
        return;
    }
    /* verifying the current password inline: the caller is authenticated and throttled by
     * the session; hashing the new one goes to the thread pool */
    if (STORE_USERS(ctx->s->st)
                ->password_by_id(ctx->s->st, ctx->user_id, encoded, sizeof encoded) != STORE_OK ||
        auth_password_verify(encoded, cur, strlen(cur)) != 0) {
        cJSON_Delete(body);
        api_audit(ctx, "auth.password_change_failed", ctx->user_id, "wrong current password");
        api_error(ctx, 403, "invalid_credentials", "the current password is wrong");
        return;
    }
    const char *why = NULL;
    if (auth_password_policy(next, strlen(next), ctx->email, &why) != 0) {
        cJSON_Delete(body);
        api_error(ctx, 400, "weak_password", "%s", why ? why : "password rejected by policy");
        return;
    }
    auth_job *j = calloc(1, sizeof *j);
    if (!j || strlen(next) >= sizeof j->password) {
        free(j);
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "password too long");
        return;
    }
    memcpy(j->password, next, strlen(next) + 1);
    cJSON_Delete(body);
    j->kind = 2;
    j->ctx = *ctx;
    j->work.data = j;
    http_conn_ref(ctx->c);
    uv_queue_work(ctx->s->loop, &j->work, hash_work, signup_done);
}
