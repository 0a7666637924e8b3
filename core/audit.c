/*
 * audit.c: canonical bytes of an audit event and the chain check.
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>

/* Decimal digits of n into buf (no terminator); returns how many. */
static size_t decimal(char *buf, uint64_t n)
{
    char tmp[24];
    size_t k = 0, i;

    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (i = 0; i < k; i++)
        buf[i] = tmp[k - 1 - i];
    return k;
}

static void field(sha256_ctx *c, const char *s)
{
    char len[24];
    size_t n, k;

    /* A NULL field hashes as "-:" so it differs from an empty one ("0:"). */
    if (s == NULL) {
        sha256_update(c, "-:\n", 3);
        return;
    }
    n = strlen(s);
    k = decimal(len, n);
    len[k++] = ':';
    sha256_update(c, len, k);
    sha256_update(c, s, n);
    sha256_update(c, "\n", 1);
}

void audit_event_hash(const audit_event *e, const char *prev_hash,
                      char out[SHA256_HEX_LEN + 1])
{
    sha256_ctx c;
    char seq[24];

    if (e->seq < 0)
        snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
    else
        seq[decimal(seq, (uint64_t)e->seq)] = '\0';
    sha256_init(&c);
    sha256_update(&c, "payrun-audit-v1\n", 16);
    field(&c, prev_hash);
    field(&c, seq);
    field(&c, e->org);
    field(&c, e->at);
    field(&c, e->actor);
    field(&c, e->action);
    field(&c, e->entity_type);
    field(&c, e->entity_id);
    field(&c, e->metadata);
    sha256_final_hex(&c, out);
}

void audit_verifier_init(audit_verifier *v)
{
    v->expect_seq = 1;
    memcpy(v->last_hash, AUDIT_GENESIS_HASH, sizeof(v->last_hash));
}

int audit_verifier_step(audit_verifier *v, const audit_event *e, const char **why)
{
    char h[SHA256_HEX_LEN + 1];

    if (e->seq != v->expect_seq) {
        *why = e->seq > v->expect_seq ? "sequence gap: events are missing before this one"
                                      : "sequence out of order";
        return -1;
    }
    if (e->prev_hash == NULL || strcmp(e->prev_hash, v->last_hash) != 0) {
        *why = "broken link: the previous hash does not match the event before it";
        return -1;
    }
    audit_event_hash(e, v->last_hash, h);
    if (e->hash == NULL || strcmp(e->hash, h) != 0) {
        *why = "hash mismatch: the event was changed after it was written";
        return -1;
    }
    memcpy(v->last_hash, h, sizeof(h));
    v->expect_seq++;
    return 0;
}
