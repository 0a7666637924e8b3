/*
 * sha256.h: SHA-256 (FIPS 180-4), for the audit hash chain and the digests
 * of input files. Self-contained so the core needs no crypto library; it
 * uses the processor's SHA instructions where there are some.
 */
#ifndef PAYRUN_SHA256_H
#define PAYRUN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;
    unsigned char buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_DIGEST_LEN]);
/* Lower-case hex of the final digest, NUL-terminated (65 bytes). */
void sha256_final_hex(sha256_ctx *c, char out[SHA256_HEX_LEN + 1]);

/* 1 when the processor's SHA instructions do the work. */
int sha256_accelerated(void);
/* For tests: 1 forces the portable code, 0 goes back to the fastest one.
 * Returns whether the portable code was in use. Not for use while another
 * thread hashes. */
int sha256_use_portable(int on);

#endif
