/*
 * sha256.c: SHA-256 as specified in FIPS 180-4. It hashes every audit
 * event and every input file of a run, so on x86-64 processors with the
 * SHA extensions the compression runs on them (about a tenth of the
 * instructions); everywhere else, and for the tests that compare the two,
 * the portable C below, written for clarity.
 */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void block_portable(sha256_ctx *c, const unsigned char *p)
{
    uint32_t w[64], a, b, d, e, f, g, h, cc, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
    e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1;
        d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

#ifdef HAVE_SHA_NI
/*
 * The same compression with the SHA-NI instructions. They keep the state
 * as two vectors, (a, b, e, f) and (c, d, g, h), highest lane first, and
 * do two rounds per SHA256RNDS2; SHA256MSG1/MSG2 extend the message
 * schedule four words at a time: w[t..t+3] from w[t-16..t-1].
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void block_shani(sha256_ctx *c,
                                                                     const unsigned char *p)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef, cdgh, abef0, cdgh0, t, w[16];
    int i;

    /* (a, b, c, d) and (e, f, g, h), lowest lane first, into the two
     * vectors the instructions want. */
    t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&c->h[0]), 0xB1); /* b a d c */
    cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&c->h[4]), 0x1B); /* h g f e */
    abef = _mm_alignr_epi8(t, cdgh, 8);     /* f e b a */
    cdgh = _mm_blend_epi16(cdgh, t, 0xF0);  /* h g d c */
    abef0 = abef;
    cdgh0 = cdgh;

    for (i = 0; i < 4; i++)
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
    for (i = 4; i < 16; i++)
        w[i] = _mm_sha256msg2_epu32(
            _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
                          _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
            w[i - 1]);
    for (i = 0; i < 16; i++) {
        __m128i k = _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)&K[4 * i]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);        /* rounds 4i, 4i+1 */
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k, 0x0E)); /* 4i+2, 4i+3 */
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);

    t = _mm_shuffle_epi32(abef, 0x1B);      /* a b e f */
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);   /* g h c d */
    _mm_storeu_si128((__m128i *)&c->h[0], _mm_blend_epi16(t, cdgh, 0xF0)); /* a b c d */
    _mm_storeu_si128((__m128i *)&c->h[4], _mm_alignr_epi8(cdgh, t, 8));    /* e f g h */
}

static int cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

/* 0 not yet asked, 1 portable, 2 SHA-NI. Read and written by one thread
 * at a time in payrun; a race would only ask the processor twice. */
static int impl;

static int pick(void)
{
    if (impl == 0) {
        impl = 1;
#ifdef HAVE_SHA_NI
        if (cpu_has_sha_ni())
            impl = 2;
#endif
    }
    return impl;
}

int sha256_accelerated(void)
{
    return pick() == 2;
}

int sha256_use_portable(int on)
{
    int was = pick() == 1;
    impl = on ? 1 : 0;
    pick();
    return was;
}

static void block(sha256_ctx *c, const unsigned char *p)
{
#ifdef HAVE_SHA_NI
    if (impl == 2) {
        block_shani(c, p);
        return;
    }
#endif
    block_portable(c, p);
}

void sha256_init(sha256_ctx *c)
{
    pick();
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof(iv));
    c->nbytes = 0;
    c->nbuf = 0;
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;

    c->nbytes += len;
    if (c->nbuf > 0) {
        size_t take = 64 - c->nbuf < len ? 64 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        len -= take;
        if (c->nbuf < 64)
            return;
        block(c, c->buf);
        c->nbuf = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        block(c, p);
    memcpy(c->buf, p, len);
    c->nbuf = len;
}

void sha256_final(sha256_ctx *c, unsigned char out[SHA256_DIGEST_LEN])
{
    uint64_t bits = c->nbytes * 8;
    unsigned char pad = 0x80;
    unsigned char len[8];
    int i;

    sha256_update(c, &pad, 1);
    {
        static const unsigned char zeros[64];
        sha256_update(c, zeros, c->nbuf <= 56 ? 56 - c->nbuf : 120 - c->nbuf);
    }
    for (i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, len, 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

void sha256_final_hex(sha256_ctx *c, char out[SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LEN];

    sha256_final(c, d);
    for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[SHA256_HEX_LEN] = '\0';
}
