/*
 * audit.h: the audit trail's hash chain.
 *
 * Each org's events form one chain: event N's hash is
 * SHA-256(hash of event N-1 || canonical bytes of event N), the first
 * event chaining to 64 zeros. The canonical bytes cover every stored field,
 * the sequence number included, each written as <length>:<bytes>\n so no
 * two different events share an encoding. Editing, deleting or reordering
 * any event therefore changes a hash that a later event depends on, and
 * `payrun audit verify` finds the first sequence number where the stored
 * chain and the recomputed one part.
 *
 * The store writes events (in the transaction of the change they record);
 * this module only defines the bytes and the check.
 */
#ifndef PAYRUN_AUDIT_H
#define PAYRUN_AUDIT_H

#include <stdint.h>

#include "sha256.h"

#define AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct audit_event {
    int64_t seq;             /* 1, 2, 3, ... per org, no gaps */
    const char *org;
    const char *at;          /* UTC, ISO 8601 */
    const char *actor;
    const char *action;      /* "payout.approved", ... */
    const char *entity_type; /* "payout", "run", ... */
    const char *entity_id;
    const char *metadata;    /* JSON object */
    const char *prev_hash;   /* hex */
    const char *hash;        /* hex */
} audit_event;

/* Compute the hash of `e` chained to `prev_hash` (hex). */
void audit_event_hash(const audit_event *e, const char *prev_hash,
                      char out[SHA256_HEX_LEN + 1]);

/*
 * Incremental verification: feed events in stored order. Returns 0 while
 * the chain holds; -1 at the first bad event, with *why set to a static
 * description (sequence gap, broken link, hash mismatch).
 */
typedef struct audit_verifier {
    int64_t expect_seq;
    char last_hash[SHA256_HEX_LEN + 1];
} audit_verifier;

void audit_verifier_init(audit_verifier *v);
int audit_verifier_step(audit_verifier *v, const audit_event *e, const char **why);

#endif
