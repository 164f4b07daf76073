/* See keyfile.h. Parsing is line by line with explicit lengths; a file with group or other
 * permissions is refused like ssh refuses a readable private key, because those bits mean the
 * keys may already have leaked (a root-owned file readable by its group excepted, as
 * PostgreSQL does for its key: that is how Kubernetes mounts a Secret for a non-root pod). */
#include "auth/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* OpenSSL's CSPRNG (this module depends on nothing else of iotad). */
static int random_bytes(uint8_t *out, size_t n)
{
    return RAND_priv_bytes(out, (int)n) == 1 ? 0 : -1;
}

int keys_generate(iotad_keys *k)
{
    memset(k, 0, sizeof *k);
    if (random_bytes(k->audit_mac, 32) != 0 || random_bytes(k->audit_sign, 32) != 0) return -1;
    k->n_secret = 0;
    return keys_add_secret(k);
}

int keys_add_secret(iotad_keys *k)
{
    if (k->n_secret >= KEYS_SECRET_MAX) return -1;
    unsigned next = 1; /* ids written here are numbers; others (from the file) count as 0 */
    for (size_t i = 0; i < k->n_secret; i++) {
        unsigned long v = strtoul(k->secret[i].id, NULL, 10);
        if (v >= next && v < 1000000000) next = (unsigned)v + 1;
    }
    keys_secret *s = &k->secret[k->n_secret];
    snprintf(s->id, sizeof s->id, "%u", next);
    if (random_bytes(s->key, 32) != 0) return -1;
    k->n_secret++;
    return 0;
}

const keys_secret *keys_find_secret(const iotad_keys *k, const char *id)
{
    for (size_t i = 0; i < k->n_secret; i++)
        if (strcmp(k->secret[i].id, id) == 0) return &k->secret[i];
    return NULL;
}

static int unhex32(const char *s, size_t n, uint8_t out[32])
{
    if (n != 64) return -1;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + (size_t)j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static bool valid_id(const char *s, size_t n)
{
    if (n == 0 || n >= KEYS_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) return false;
    return true;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* One "name = hex" line into k; 0 ok, -1 malformed. */
static int parse_line(const char *line, size_t len, iotad_keys *k, unsigned *seen)
{
    const char *eq = memchr(line, '=', len);
    if (!eq) return -1;
    const char *name = line, *val = eq + 1;
    size_t nl = (size_t)(eq - line), vl = len - nl - 1;
    trim(&name, &nl);
    trim(&val, &vl);
    uint8_t key[32];
    if (unhex32(val, vl, key) != 0) return -1;
    if (nl == 9 && memcmp(name, "audit_mac", 9) == 0) {
        memcpy(k->audit_mac, key, 32);
        *seen |= 1;
    } else if (nl == 10 && memcmp(name, "audit_sign", 10) == 0) {
        memcpy(k->audit_sign, key, 32);
        *seen |= 2;
    } else if (nl > 7 && memcmp(name, "secret.", 7) == 0 && valid_id(name + 7, nl - 7)) {
        char id[KEYS_ID_MAX];
        memcpy(id, name + 7, nl - 7);
        id[nl - 7] = '\0';
        if (k->n_secret >= KEYS_SECRET_MAX || keys_find_secret(k, id)) return -1;
        memcpy(k->secret[k->n_secret].id, id, nl - 6);
        memcpy(k->secret[k->n_secret].key, key, 32);
        k->n_secret++;
    } else {
        return -1;
    }
    explicit_bzero(key, sizeof key);
    return 0;
}

int keys_load(const char *path, iotad_keys *k, char *err, size_t errcap)
{
    memset(k, 0, sizeof *k);
    /* non-blocking: a FIFO opens at once and is refused below instead of hanging the start */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "cannot open key file %s: %s", path, strerror(e));
        errno = e;
        return e == ENOENT ? -1 : -2;
    }
    struct stat st;
    char buf[8192];
    ssize_t n = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "key file %s is not a regular file", path);
    } else if (!keys_mode_ok((unsigned)st.st_uid, (unsigned)st.st_mode)) {
        snprintf(err, errcap,
                 "key file %s is accessible by group or others (mode %03o); it must be 0600 "
                 "(or 0640/0440 owned by root, as a Kubernetes Secret): chmod 600 it, and "
                 "replace the keys if others may have read them",
                 path, (unsigned)(st.st_mode & 0777));
    } else if ((n = read(fd, buf, sizeof buf - 1)) < 0 || (size_t)n >= sizeof buf - 1) {
        snprintf(err, errcap, "cannot read key file %s (or larger than %zu bytes)", path,
                 sizeof buf - 2);
        n = -1;
    }
    close(fd);
    if (n < 0) {
        explicit_bzero(buf, sizeof buf);
        return -2;
    }
    int rc = keys_parse(buf, (size_t)n, path, k, err, errcap);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

int keys_parse(const char *buf, size_t n, const char *name, iotad_keys *k, char *err, size_t errcap)
{
    memset(k, 0, sizeof *k);
    unsigned seen = 0;
    int lineno = 0, rc = 0;
    for (const char *p = buf, *end = buf + n; p < end && rc == 0;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        const char *s = p;
        size_t sl = len;
        trim(&s, &sl);
        if (sl && s[0] != '#' && parse_line(s, sl, k, &seen) != 0) {
            snprintf(err, errcap,
                     "key file %s:%d: expected `audit_mac|audit_sign|secret.<id> = <64 hex "
                     "digits>` (once each)",
                     name, lineno);
            rc = -2;
        }
        p += len + (nl ? 1 : 0);
    }
    if (rc == 0 && (seen != 3 || k->n_secret == 0)) {
        snprintf(err, errcap, "key file %s lacks %s", name,
                 !(seen & 1)   ? "audit_mac"
                 : !(seen & 2) ? "audit_sign"
                               : "a secret.<id> key");
        rc = -2;
    }
    if (rc != 0) keys_wipe(k);
    return rc;
}

static void put_key(FILE *f, const char *name, const uint8_t key[32])
{
    static const char digits[] = "0123456789abcdef";
    char hex[65];
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[key[i] >> 4];
        hex[2 * i + 1] = digits[key[i] & 15];
    }
    hex[64] = '\0';
    fprintf(f, "%s = %s\n", name, hex);
    explicit_bzero(hex, sizeof hex);
}

int keys_save(const char *path, const iotad_keys *k, char *err, size_t errcap)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errcap, "key file path too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, errcap, "cannot write key file %s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    fprintf(f, "# iotad keys: keep this file secret (mode 0600) and back it up apart from the\n"
               "# database. Without it the stored channel secrets cannot be read and the audit\n"
               "# log cannot be verified. See docs/security.md.\n");
    put_key(f, "audit_mac", k->audit_mac);
    put_key(f, "audit_sign", k->audit_sign);
    for (size_t i = 0; i < k->n_secret; i++) {
        char name[8 + KEYS_ID_MAX];
        snprintf(name, sizeof name, "secret.%s", k->secret[i].id);
        put_key(f, name, k->secret[i].key);
    }
    bool ok = fflush(f) == 0 && fsync(fd) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errcap, "cannot write key file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* the rename itself must survive a power loss */
        close(dfd);
    }
    return 0;
}

int keys_sign_public(const iotad_keys *k, uint8_t pub[32])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->audit_sign, 32);
    size_t len = 32;
    int rc = pk && EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 && len == 32 ? 0 : -1;
    EVP_PKEY_free(pk);
    return rc;
}

bool keys_mode_ok(unsigned uid, unsigned mode)
{
    if (mode & 007) return false;                   /* others: nothing */
    if (uid == 0) return (mode & 070 & ~040u) == 0; /* root's file: the group may read */
    return (mode & 070) == 0;
}

int keys_lock(const char *path, keys_lock_mode mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (flock(fd, (mode == KEYS_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void keys_wipe(iotad_keys *k)
{
    explicit_bzero(k, sizeof *k);
}
