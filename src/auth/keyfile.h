/* iotad's secret keys, kept in a key file outside the database (default
 * <data_dir>/iotad.keys, mode 0600), so that a copy of the database alone reveals no channel
 * secret and whoever can write the database still cannot rewrite the audit log unseen.
 *
 * The file is text, one `name = hex` per line, '#' comments:
 *   audit_mac  = <32 bytes>   HMAC-SHA-256 key of the audit chain
 *   audit_sign = <32 bytes>   Ed25519 seed signing audit checkpoints
 *   secret.<id> = <32 bytes>  AES-256-GCM keys of stored secrets; the last one seals new
 *                             secrets, older ones stay only until `iotad secrets rotate` has
 *                             re-sealed everything (ids: 1..16 characters [a-z0-9])
 * Written atomically (temporary file, fsync, rename, fsync of the directory).
 * Several nodes of a cluster share one key file (the same content on each, e.g. a Kubernetes
 * Secret): each running iotad holds a shared lock on it, `iotad secrets rotate` the exclusive
 * one. */
#ifndef IOTAD_AUTH_KEYFILE_H
#define IOTAD_AUTH_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_SECRET_MAX 8
#define KEYS_ID_MAX 17

typedef struct {
    char id[KEYS_ID_MAX];
    uint8_t key[32];
} keys_secret;

typedef struct iotad_keys_s {
    uint8_t audit_mac[32];
    uint8_t audit_sign[32]; /* Ed25519 private key (seed) */
    keys_secret secret[KEYS_SECRET_MAX];
    size_t n_secret; /* secret[n_secret - 1] seals new secrets */
} iotad_keys;

/* Fills k with fresh random keys (one secret key, id "1"). 0 ok, -1 RNG failure. */
int keys_generate(iotad_keys *k);
/* Reads path into k. 0 ok; -1 missing (errno ENOENT); -2 unreadable, malformed, missing a key
 * or readable by group/others (err says which). */
int keys_load(const char *path, iotad_keys *k, char *err, size_t errcap);
/* Parses the text of a key file (name is for messages). 0 ok, -2 malformed (err says why). */
int keys_parse(const char *buf, size_t len, const char *name, iotad_keys *k, char *err,
               size_t errcap);
/* Writes k to path (0600) atomically. 0 ok, -1 with err. */
int keys_save(const char *path, const iotad_keys *k, char *err, size_t errcap);
/* Appends a new random secret key (it becomes the one that seals) with the next numeric id.
 * 0 ok, -1 full or RNG failure. */
int keys_add_secret(iotad_keys *k);
/* The secret key with this id, or NULL. */
const keys_secret *keys_find_secret(const iotad_keys *k, const char *id);
/* Ed25519 public key of audit_sign. 0 ok, -1 error. */
int keys_sign_public(const iotad_keys *k, uint8_t pub[32]);
typedef enum { KEYS_LOCK_SHARED, KEYS_LOCK_EXCLUSIVE } keys_lock_mode;
/* Takes an advisory lock on path (creating nothing, opening it read-only, so a read-only
 * mount works): shared for a running iotad (several may share the file), exclusive for
 * `secrets rotate` (no iotad may run). Returns the fd to keep open for as long as the lock is
 * needed, or -1 when a conflicting lock is held (errno EWOULDBLOCK) or the file cannot be
 * opened. */
int keys_lock(const char *path, keys_lock_mode mode);
/* Whether a key file with this owner and mode may be used: no bits for others and none for
 * the group (0600, 0400), except a file owned by root may be readable by its group (0640,
 * 0440): how a Kubernetes Secret is mounted for a non-root pod with an fsGroup, and the rule
 * PostgreSQL applies to its TLS key. */
bool keys_mode_ok(unsigned uid, unsigned mode);
void keys_wipe(iotad_keys *k);

#endif
