/* memhil twin: native CPU kernels for the update path (docs/hardware-contract.md, sections 3-6).
 *
 * These functions compute exactly what memhil.twin.core does with torch (and what
 * memhil.twin.reference does with Python integers): they are a speed path, not a second
 * definition. Tests compare all three bit for bit. Built at first use by memhil/twin/native.py
 * with the machine's C compiler (-O3 -march=native) and loaded through ctypes; every array is
 * a contiguous torch tensor's buffer, every constant of the contract is passed in by the caller.
 *
 * Conventions: a tile has R rows (delta index i) and C columns (input index j); arrays are
 * row-major. LFSR states are int64 holding 32-bit words. T8[v] is the state reached from the
 * 8-bit state v after 8 single steps; 8 steps of any state s are then (s >> 8) ^ T8[s & 0xFF]
 * (a right-shifting Galois LFSR only XORs taps in when a set bit leaves at the bottom).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

static inline int64_t sat(int64_t v, int64_t m) { return v < -m ? -m : (v > m ? m : v); }

static inline uint32_t step8(uint32_t s, const uint32_t *t8) { return (s >> 8) ^ t8[s & 0xFFu]; }

/* Advance n states by k8 * 8 single steps. */
static void memhil_advance(int64_t n, int64_t k8, const uint32_t *t8, int64_t *states)
{
    for (int64_t a = 0; a < n; a++) {
        uint32_t s = (uint32_t)states[a];
        for (int64_t k = 0; k < k8; k++)
            s = step8(s, t8);
        states[a] = (int64_t)s;
    }
}

/* Stochastic streams of one side (rows or columns), contract section 4.
 * n states, B samples of codes (B x n, saturated here to [-code_max, code_max]), bl bits per
 * sample, each bit spb * 8 single steps after the previous one. Bit t of sample b sits in
 * word (b * nw + t / 32), bit t % 32, of words[(b * nw + t / 32) * n + a]; neg[b * n + a] is
 * -1 where the code is negative, else 0. States advance by B * bl * spb * 8 steps.
 * Each state's chain is sequential; the states are independent, so blocks of 32 states run
 * side by side (four 8-lane chains with AVX2, to hide the table gathers' latency) and the
 * blocks are shared among the threads. */
#define SBLK 32

static void stream_scalar(int64_t a, int64_t n, int64_t B, int64_t bl, int64_t spb,
                          uint32_t pm, const uint32_t *t8, const int32_t *mag,
                          int64_t *states, uint32_t *words)
{
    const int64_t nw = (bl + 31) / 32;
    uint32_t s = (uint32_t)states[a];
    for (int64_t b = 0; b < B; b++) {
        const uint32_t m = (uint32_t)mag[b * n + a];
        for (int64_t w = 0; w < nw; w++) {
            uint32_t word = 0;
            const int64_t tl = bl - w * 32 < 32 ? bl - w * 32 : 32;
            for (int64_t t = 0; t < tl; t++) {
                for (int64_t k = 0; k < spb; k++)
                    s = step8(s, t8);
                word |= ((s & pm) < m ? 1u : 0u) << t;
            }
            words[(b * nw + w) * n + a] = word;
        }
    }
    states[a] = (int64_t)s;
}

#ifdef __AVX2__
/* Eight single steps of eight states without a table gather: the feedback bits f_0..f_7 that
 * leave the bottom during the 8 steps are a linear function of the low byte, looked up one
 * nibble at a time with vpshufb (fb[0..15]: low nibble, fb[16..31]: high nibble); then
 *   s8 = (s >> 8) ^ XOR over tap bits t of (F shifted left by t - 7, or right by 7 - t)
 * (each tap XORed in at step k is shifted right 7 - k more times). The taps are compiled in
 * (-DMEMHIL_TAPS, from the contract) so that every shift is an immediate. */
#ifndef MEMHIL_TAPS
#error "build with -DMEMHIL_TAPS=<the contract's LFSR taps> (memhil/twin/native.py does)"
#endif
typedef struct {
    __m256i flo, fhi, nib, low8;
} lfsr8_ctx;

/* XOR in tap t (a compile-time constant, so every shift is an immediate). */
#define TAPX(t)                                                                                  \
    if ((MEMHIL_TAPS >> (t)) & 1u)                                                               \
        r = _mm256_xor_si256(r, (t) >= 7 ? _mm256_slli_epi32(f, (t) >= 7 ? (t) - 7 : 0)        \
                                         : _mm256_srli_epi32(f, (t) < 7 ? 7 - (t) : 0));

static inline __m256i step8_avx2(__m256i s, const lfsr8_ctx *c)
{
    const __m256i lo = _mm256_and_si256(s, c->nib);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(s, 4), c->nib);
    const __m256i f = _mm256_and_si256(_mm256_xor_si256(_mm256_shuffle_epi8(c->flo, lo),
                                                        _mm256_shuffle_epi8(c->fhi, hi)), c->low8);
    __m256i r = _mm256_srli_epi32(s, 8);
    TAPX(0) TAPX(1) TAPX(2) TAPX(3) TAPX(4) TAPX(5) TAPX(6) TAPX(7)
    TAPX(8) TAPX(9) TAPX(10) TAPX(11) TAPX(12) TAPX(13) TAPX(14) TAPX(15)
    TAPX(16) TAPX(17) TAPX(18) TAPX(19) TAPX(20) TAPX(21) TAPX(22) TAPX(23)
    TAPX(24) TAPX(25) TAPX(26) TAPX(27) TAPX(28) TAPX(29) TAPX(30) TAPX(31)
    return r;
}

static void stream_block_avx2(int64_t a0, int64_t n, int64_t B, int64_t bl, int64_t spb,
                              uint32_t pm, const lfsr8_ctx *ctx, const int32_t *mag,
                              int64_t *states, uint32_t *words)
{
    const int64_t nw = (bl + 31) / 32;
    uint32_t sl[SBLK];
    for (int k = 0; k < SBLK; k++)
        sl[k] = (uint32_t)states[a0 + k];
    __m256i S[4], M[4], W[4];
    for (int k = 0; k < 4; k++)
        S[k] = _mm256_loadu_si256((const __m256i *)(sl + 8 * k));
    const __m256i pmv = _mm256_set1_epi32((int)pm);
    for (int64_t b = 0; b < B; b++) {
        for (int k = 0; k < 4; k++)
            M[k] = _mm256_loadu_si256((const __m256i *)(mag + b * n + a0 + 8 * k));
        for (int64_t w = 0; w < nw; w++) {
            const int64_t tl = bl - w * 32 < 32 ? bl - w * 32 : 32;
            for (int k = 0; k < 4; k++)
                W[k] = _mm256_setzero_si256();
            for (int64_t t = 0; t < tl; t++) {
                const __m256i bit = _mm256_set1_epi32((int)(1u << t));
                for (int64_t r = 0; r < spb; r++)
                    for (int k = 0; k < 4; k++)
                        S[k] = step8_avx2(S[k], ctx);
                for (int k = 0; k < 4; k++) {
                    const __m256i f = _mm256_cmpgt_epi32(M[k], _mm256_and_si256(S[k], pmv));
                    W[k] = _mm256_or_si256(W[k], _mm256_and_si256(f, bit));
                }
            }
            for (int k = 0; k < 4; k++)
                _mm256_storeu_si256((__m256i *)(words + (b * nw + w) * n + a0 + 8 * k), W[k]);
        }
    }
    for (int k = 0; k < 4; k++)
        _mm256_storeu_si256((__m256i *)(sl + 8 * k), S[k]);
    for (int k = 0; k < SBLK; k++)
        states[a0 + k] = (int64_t)sl[k];
}
#endif

static void memhil_streams(int64_t n, int64_t B, int64_t bl, int64_t spb, int64_t prob_mask,
                    int64_t code_max, const uint32_t *t8, const uint8_t *fb, int64_t taps,
                    const int64_t *codes, int64_t *states, uint32_t *words, int32_t *neg,
                    int64_t threads)
{
#ifdef __AVX2__
    lfsr8_ctx ctx;
    ctx.flo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fb));
    ctx.fhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(fb + 16)));
    ctx.nib = _mm256_set1_epi8(0x0F);
    ctx.low8 = _mm256_set1_epi32(0xFF);
    if ((uint32_t)taps != (uint32_t)MEMHIL_TAPS)
        abort();                                /* built for other taps: never silently wrong */
#else
    (void)fb;
    (void)taps;
#endif
    int32_t *mag = malloc(sizeof(int32_t) * B * n);
    for (int64_t q = 0; q < B * n; q++) {
        const int64_t c = codes[q], m = c < 0 ? -c : c;
        mag[q] = (int32_t)(m < code_max ? m : code_max);
        neg[q] = c < 0 ? -1 : 0;
    }
    const int64_t nblk = (n + SBLK - 1) / SBLK;
    (void)threads;
    /* (small streams, e.g. a batch-1 layer's rows, are not worth waking a thread team) */
#pragma omp parallel for num_threads(threads) schedule(static) \
    if (nblk > 1 && n * B * bl * spb >= 16384)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t a0 = blk * SBLK;
#ifdef __AVX2__
        if (a0 + SBLK <= n) {
            stream_block_avx2(a0, n, B, bl, spb, (uint32_t)prob_mask, &ctx, mag, states, words);
            continue;
        }
#endif
        for (int64_t a = a0; a < n && a < a0 + SBLK; a++)
            stream_scalar(a, n, B, bl, spb, (uint32_t)prob_mask, t8, mag, states, words);
    }
    free(mag);
}

/* Parameters of one apply (contract section 6), as the caller read them from the registers. */
typedef struct {
    int64_t cmax, sub_bits, c2c_q, lr_q;
    int64_t s_up0, s_dn0;          /* the step tables' first entries (uniform tables) */
    int64_t lr_frac, nmax, max_levels, factor_frac, step_frac, noise_shift;
    int64_t rounding, uniform, d2d, c2c;
    /* stochastic streams and LFSR strides (contract section 4) */
    int64_t bl, stream_k8, apply_k8, prob_mask, code_max, taps;
} apply_params;

/* Apply one row's batch sums a[0..C) to the row's devices (sums, gp, gm rows), with row
 * noise word rw and the column words cw. Returns the pulses applied. The flags are passed as
 * constants by the callers below, so the compiler emits one specialised loop per variant. */
static inline __attribute__((always_inline)) int64_t
apply_span(int64_t j0, const int64_t len, int32_t *restrict a, int32_t *restrict gp,
           int32_t *restrict gm, int16_t *restrict w16, uint32_t rw, const uint32_t *restrict cw,
           const int32_t *restrict fp, const int32_t *restrict fm, const int32_t *restrict steps,
           const int32_t *restrict gauss, const int32_t *restrict root, const apply_params *p,
           const uint8_t *restrict stuck, int64_t *restrict cnt,
           const int rounding, const int uniform, const int d2d, const int c2c, const int hs)
{
    const int32_t cmax = (int32_t)p->cmax, sub = (int32_t)p->sub_bits;
    const int32_t nmax = (int32_t)p->nmax, maxl = (int32_t)p->max_levels;
    const int32_t c2c_q32 = (int32_t)p->c2c_q;
    const uint32_t ll = (uint32_t)(p->lr_q & 0xFFFF), lh = (uint32_t)(p->lr_q >> 16);
    const uint32_t lhc = lh < (uint32_t)nmax + 1 ? lh : (uint32_t)nmax + 1;
    const int32_t up0 = (int32_t)p->s_up0, dn0 = (int32_t)p->s_dn0;
    const int ff = (int)p->factor_frac, sf = (int)p->step_frac;
    const int ns = (int)p->noise_shift;
    int64_t pulses = 0, n_up = 0, n_stuck = 0;   /* (reductions in registers, not via cnt) */
    for (int64_t j = j0; j < j0 + len; j++) {
        const int32_t acc = a[j];
        const uint32_t r = rw ^ cw[j];
        const int32_t m = acc < 0 ? -acc : acc;
        int32_t n;
        if (rounding) {
            /* n = (m * lr_q) >> lr_frac, plus one if (r >> 16) < the dropped low bits, at most
             * nmax; in 32-bit pieces (lr_frac = 16, nmax < 256, m < 2^23): m = mh:ml, lr_q =
             * lh:ll; a factor lh > nmax gives n > nmax for any m > 0, so lh saturates first. */
            const uint32_t um = (uint32_t)m, mh = um >> 16, ml = um & 0xFFFFu;
            const uint32_t pl = ml * ll;
            const uint32_t whole = um * lhc + mh * ll + (pl >> 16);
            const uint32_t nn = whole + ((r >> 16) < (pl & 0xFFFFu) ? 1u : 0u);
            n = (int32_t)(nn < (uint32_t)nmax ? nn : (uint32_t)nmax);
        } else {
            n = m < nmax ? m : nmax;
        }
        const int32_t p0 = gp[j], m0 = gm[j];
        const int low = (p0 + m0) < cmax;
        const int plus = ((acc > 0) == low);
        const int32_t c = plus ? p0 : m0;
        int32_t S;
        if (uniform) {
            S = low ? up0 : dn0;
        } else {
            int32_t lv = c >> sub;
            lv = lv < maxl - 1 ? lv : maxl - 1;
            S = steps[lv + (low ? 0 : maxl)];
        }
        int32_t step1 = S;
        if (d2d) {
            const int32_t fpj = fp[j], fmj = fm[j];
            step1 = (int32_t)(((int64_t)S * (plus ? fpj : fmj)) >> ff);
        }
        /* 32-bit lanes where the contract's bounds allow (native.py checks them at load):
         * step1 < 2^18, |gauss| < 2^10, C2C_Q < 2^14, root < 2^12, noise_shift >= 24, so
         * x, y and the shifted product fit in 32 bits; only x * y (< 2^54) needs 64. */
        int32_t total = n * step1;
        if (c2c) {
            const int32_t x = step1 * gauss[r & 0xFFu];
            const int32_t y = c2c_q32 * root[n];
            total += (int32_t)(((int64_t)x * (int64_t)y) >> ns);
            total = total > 0 ? total : 0;
        }
        const int32_t delta = (total + (int32_t)((r >> 8) & 0xFFu)) >> sf;
        int32_t nc = low ? c + delta : c - delta;
        nc = nc < 0 ? 0 : nc;
        nc = nc > cmax ? cmax : nc;
        const int act = n > 0;
        /* a stuck device (contract section 3, "Stuck devices") takes the pulses and keeps its
         * code; bit 0 of stuck[j]: G+ stuck, bit 1: G- stuck */
        const int sdev = hs ? (stuck[j] >> (plus ? 0 : 1)) & 1 : 0;
        const int mv = act & !sdev;
        const int32_t np = (mv & plus) ? nc : p0, nm = (mv & !plus) ? nc : m0;
        gp[j] = np;
        gm[j] = nm;
        w16[j] = (int16_t)(np - nm);          /* the read kernels' weight copy stays current */
        pulses += act ? n : 0;
        n_up += (mv & low) ? n : 0;           /* up, not stuck */
        n_stuck += (act & sdev) ? n : 0;      /* to a stuck device */
        a[j] = 0;
    }
    cnt[0] += n_up;
    cnt[1] += n_stuck;
    return pulses;
}

/* One row: spans of 8 cells (one vector) whose batch sums are all zero are skipped: they
 * fire no pulse, so nothing changes (the noise words are per row and column, drawn before the
 * apply). In training most sums are zero at the apply. */
static inline __attribute__((always_inline)) int64_t
apply_row(int64_t C, int32_t *restrict a, int32_t *restrict gp, int32_t *restrict gm,
          int16_t *restrict w16, uint32_t rw, const uint32_t *restrict cw, const int32_t *restrict fp,
          const int32_t *restrict fm, const int32_t *restrict steps, const int32_t *restrict gauss,
          const int32_t *restrict root, const apply_params *p,
          const uint8_t *restrict stuck, int64_t *restrict cnt,
          const int rounding, const int uniform, const int d2d, const int c2c)
{
    int64_t pulses = 0, j0 = 0;
    for (; j0 + 8 <= C; j0 += 8) {
        int32_t any = 0;
        for (int k = 0; k < 8; k++)
            any |= a[j0 + k];
        if (any && stuck)      /* (no stuck devices: a variant without the stuck loads) */
            pulses += apply_span(j0, 8, a, gp, gm, w16, rw, cw, fp, fm, steps, gauss, root, p,
                                 stuck, cnt, rounding, uniform, d2d, c2c, 1);
        else if (any)
            pulses += apply_span(j0, 8, a, gp, gm, w16, rw, cw, fp, fm, steps, gauss, root, p,
                                 stuck, cnt, rounding, uniform, d2d, c2c, 0);
    }
    if (j0 < C)
        pulses += apply_span(j0, C - j0, a, gp, gm, w16, rw, cw, fp, fm, steps, gauss, root, p,
                             stuck, cnt, rounding, uniform, d2d, c2c, stuck != NULL);
    return pulses;
}

typedef int64_t (*row_fn)(int64_t, int32_t *, int32_t *, int32_t *, int16_t *, uint32_t,
                          const uint32_t *,
                          const int32_t *, const int32_t *, const int32_t *, const int32_t *,
                          const int32_t *, const apply_params *, const uint8_t *, int64_t *);

#define VARIANT(R_, U_, D_, N_)                                                                   \
    static int64_t apply_row_##R_##U_##D_##N_(                                                    \
        int64_t C, int32_t *restrict a, int32_t *restrict gp, int32_t *restrict gm,               \
        int16_t *restrict w16, uint32_t rw,                                                       \
        const uint32_t *restrict cw, const int32_t *restrict fp, const int32_t *restrict fm,      \
        const int32_t *restrict steps, const int32_t *restrict gauss,                             \
        const int32_t *restrict root, const apply_params *restrict p,                             \
        const uint8_t *restrict stuck, int64_t *restrict cnt)                                     \
    {                                                                                             \
        return apply_row(C, a, gp, gm, w16, rw, cw, fp, fm, steps, gauss, root, p, stuck, cnt,   \
                         R_, U_, D_, N_);                                                         \
    }
VARIANT(0, 0, 0, 0) VARIANT(0, 0, 0, 1) VARIANT(0, 0, 1, 0) VARIANT(0, 0, 1, 1)
VARIANT(0, 1, 0, 0) VARIANT(0, 1, 0, 1) VARIANT(0, 1, 1, 0) VARIANT(0, 1, 1, 1)
VARIANT(1, 0, 0, 0) VARIANT(1, 0, 0, 1) VARIANT(1, 0, 1, 0) VARIANT(1, 0, 1, 1)
VARIANT(1, 1, 0, 0) VARIANT(1, 1, 0, 1) VARIANT(1, 1, 1, 0) VARIANT(1, 1, 1, 1)
static const row_fn ROW_FNS[16] = {
    apply_row_0000, apply_row_0001, apply_row_0010, apply_row_0011,
    apply_row_0100, apply_row_0101, apply_row_0110, apply_row_0111,
    apply_row_1000, apply_row_1001, apply_row_1010, apply_row_1011,
    apply_row_1100, apply_row_1101, apply_row_1110, apply_row_1111,
};

/* Coincidence counts (contract section 5, pulse coincidence): for rows i0 .. i0+nr-1 add
 *   a[i][j] += sum over sample words q of sign(d_i,b) * sign(x_j,b) * popcount(r_iq & c_qj)
 * q = b * nw + w runs over the B * nw stream words; rw/rmk (R x Q): the rows' words and sign
 * masks (0xFEFEFEFE where the row's code is negative, else 0); cw/csg (Q x C): the columns'
 * words and signed byte multipliers (0xFFFFFFFF, i.e. -1 in every byte, where the column's code
 * is negative, else 0x01010101). rmk ^ csg is then the product of the signs in every byte.
 * AVX2: eight columns per vector; a nibble table gives each byte's popcount, vpmaddubsw
 * multiplies it by the sign and adds byte pairs into 16-bit lanes (|sum| <= 16 per word), which
 * are widened to the 32-bit accumulators every 1024 words, so no lane can overflow. */
static inline int32_t coinc_cell(int64_t Q, int64_t C, int64_t j, const uint32_t *rw,
                                 const uint32_t *rmk, const uint32_t *cw, const uint32_t *csg)
{
    int32_t sum = 0;
    for (int64_t q = 0; q < Q; q++) {
        const int32_t k = __builtin_popcount(rw[q] & cw[q * C + j]);
        const int negative = (csg[q * C + j] != 0x01010101u) != (rmk[q] != 0);
        sum += negative ? -k : k;
    }
    return sum;
}

#ifdef __AVX2__
static inline __attribute__((always_inline)) void
coinc_rows_avx2(const int nr, int64_t Q, int64_t C, int32_t *acc, const uint32_t *rw,
                const uint32_t *rmk, const uint32_t *cw, const uint32_t *csg)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nib = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1);
    int64_t j = 0;
    for (; j + 8 <= C; j += 8) {
        __m256i s16[4], s32[4];
        for (int r = 0; r < nr; r++)
            s16[r] = s32[r] = _mm256_setzero_si256();
        for (int64_t q = 0; q < Q; q++) {
            const __m256i c = _mm256_loadu_si256((const __m256i *)(cw + q * C + j));
            const __m256i sg = _mm256_loadu_si256((const __m256i *)(csg + q * C + j));
            for (int r = 0; r < nr; r++) {
                const __m256i m = _mm256_and_si256(c, _mm256_set1_epi32((int)rw[r * Q + q]));
                const __m256i lo = _mm256_and_si256(m, nib);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(m, 4), nib);
                const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                    _mm256_shuffle_epi8(lut, hi));
                const __m256i sgn = _mm256_xor_si256(sg, _mm256_set1_epi32((int)rmk[r * Q + q]));
                s16[r] = _mm256_add_epi16(s16[r], _mm256_maddubs_epi16(cnt, sgn));
            }
            if ((q & 1023) == 1023)
                for (int r = 0; r < nr; r++) {
                    s32[r] = _mm256_add_epi32(s32[r], _mm256_madd_epi16(s16[r], ones16));
                    s16[r] = _mm256_setzero_si256();
                }
        }
        for (int r = 0; r < nr; r++) {
            int32_t *a = acc + r * C + j;
            const __m256i t = _mm256_add_epi32(s32[r], _mm256_madd_epi16(s16[r], ones16));
            _mm256_storeu_si256((__m256i *)a, _mm256_add_epi32(_mm256_loadu_si256((__m256i *)a), t));
        }
    }
    for (; j < C; j++)
        for (int r = 0; r < nr; r++)
            acc[r * C + j] += coinc_cell(Q, C, j, rw + r * Q, rmk + r * Q, cw, csg);
}
#endif

/* One row over its nonzero stream words only (a zero code draws a zero word, and in training
 * most error codes of a minibatch are zero): n words rw/rmk taken from the word indices qi. */
static void coinc_row_sparse(int64_t n, const int32_t *qi, const uint32_t *rw, const uint32_t *rmk,
                             int64_t C, int32_t *a, const uint32_t *cw, const uint32_t *csg)
{
    int64_t j = 0;
#ifdef __AVX2__
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nib = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1);
    for (; j + 8 <= C; j += 8) {
        __m256i s16 = _mm256_setzero_si256(), s32 = _mm256_setzero_si256();
        for (int64_t k = 0; k < n; k++) {
            const int64_t off = (int64_t)qi[k] * C + j;
            const __m256i c = _mm256_loadu_si256((const __m256i *)(cw + off));
            const __m256i sg = _mm256_loadu_si256((const __m256i *)(csg + off));
            const __m256i m = _mm256_and_si256(c, _mm256_set1_epi32((int)rw[k]));
            const __m256i lo = _mm256_and_si256(m, nib);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(m, 4), nib);
            const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                _mm256_shuffle_epi8(lut, hi));
            const __m256i sgn = _mm256_xor_si256(sg, _mm256_set1_epi32((int)rmk[k]));
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(cnt, sgn));
            if ((k & 1023) == 1023) {
                s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(s16, ones16));
                s16 = _mm256_setzero_si256();
            }
        }
        const __m256i t = _mm256_add_epi32(s32, _mm256_madd_epi16(s16, ones16));
        _mm256_storeu_si256((__m256i *)(a + j),
                            _mm256_add_epi32(_mm256_loadu_si256((__m256i *)(a + j)), t));
    }
#endif
    for (; j < C; j++) {
        int32_t sum = 0;
        for (int64_t k = 0; k < n; k++) {
            const int64_t off = (int64_t)qi[k] * C + j;
            const int32_t cnt = __builtin_popcount(rw[k] & cw[off]);
            sum += ((csg[off] != 0x01010101u) != (rmk[k] != 0)) ? -cnt : cnt;
        }
        a[j] += sum;
    }
}

static void coinc_rows(int nr, int64_t Q, int64_t C, int32_t *acc, const uint32_t *rw,
                       const uint32_t *rmk, const uint32_t *cw, const uint32_t *csg)
{
#ifdef __AVX2__
    if (nr == 4)
        coinc_rows_avx2(4, Q, C, acc, rw, rmk, cw, csg);
    else
        for (int r = 0; r < nr; r++)
            coinc_rows_avx2(1, Q, C, acc + r * C, rw + r * Q, rmk + r * Q, cw, csg);
#else
    for (int r = 0; r < nr; r++)
        for (int64_t j = 0; j < C; j++)
            acc[r * C + j] += coinc_cell(Q, C, j, rw + r * Q, rmk + r * Q, cw, csg);
#endif
}

/* One update of a tile (contract sections 4-6, version 3): the batch sums S of the
 * increments of B samples, then their apply, a block of rows at a time so that the rows stay
 * in cache; the blocks are shared among `threads` threads (rows are independent).
 *
 * kind 0: pulse coincidence: the streams of the codes d (B x R) and x (B x C) are drawn
 *         here (memhil_streams); kind 1: rounding of one sample, outer product d[i] * x[j] of
 *         the codes d (R) and x (C); kind 4: rounding of B samples, the sum over b of the
 *         outer products d[b][i] * x[b][j] added here, row by row, skipping zero codes (exact
 *         integers: B <= 256 and |d x| <= 127 * 127 keep |S| < 2^23).
 * sums (R x C int32): a scratch buffer, not state: all zero on entry (the sums are formed in
 * it) and all zero again on return (the apply clears every sum it applies); the apply skips
 * the rows that received no increment (nothing in them can change: their sums are zero).
 * rw/cw64: the row and column LFSR states, advanced here (streams, then the apply's 32 steps,
 * whose states are the apply's noise words); w16 (R x C): the
 * int16 copy of gp - gm that the reads use, kept current for every cell the apply visits
 * (the caller knows whether it was current before). stuck (R x C, or NULL: no stuck device):
 * bit 0 G+ stuck, bit 1 G- stuck (a stuck device keeps its code); counts (or NULL) receives
 * the pulses sent up to devices that are not stuck and the pulses sent to stuck devices.
 * Returns the pulses (all of them, stuck or not). */
#define RBLK 4
#ifndef SPARSE_NUM
#define SPARSE_NUM 3   /* a row block runs dense when over 3/4 of its words are nonzero */
#define SPARSE_DEN 4
#endif
int64_t memhil_update(int64_t kind, int64_t R, int64_t C, int64_t B,
                      const int64_t *d, const int64_t *x, int32_t *sums,
                      int32_t *gp, int32_t *gm, int16_t *w16,
                      int64_t *rw, int64_t *cw64, const int32_t *fp, const int32_t *fm,
                      const int32_t *steps, const int32_t *gauss, const int32_t *root,
                      const uint32_t *t8, const uint8_t *fb, const apply_params *p,
                      int64_t threads, const uint8_t *stuck, int64_t *counts)
{
    const int64_t code_max = p->code_max;
    const int64_t nw = kind == 0 ? (p->bl + 31) / 32 : 0;
    uint32_t *rwords = NULL, *cwords = NULL;
    int32_t *rneg = NULL, *cneg = NULL;
    if (kind == 0) {               /* the streams of rows (d) then columns (x), contract 4.2 */
        rwords = malloc(sizeof(uint32_t) * B * nw * R);
        cwords = malloc(sizeof(uint32_t) * B * nw * C);
        rneg = malloc(sizeof(int32_t) * B * R);
        cneg = malloc(sizeof(int32_t) * B * C);
        memhil_streams(R, B, p->bl, p->stream_k8, p->prob_mask, code_max, t8, fb, p->taps, d, rw,
                       rwords, rneg, threads);
        memhil_streams(C, B, p->bl, p->stream_k8, p->prob_mask, code_max, t8, fb, p->taps, x,
                       cw64, cwords, cneg, threads);
    }
    /* the apply's noise words: 32 more steps of every LFSR */
    memhil_advance(R, p->apply_k8, t8, rw);
    memhil_advance(C, p->apply_k8, t8, cw64);
    uint32_t *cw = NULL, *rwT = NULL, *rmk = NULL, *csg = NULL, *rwc = NULL, *rmkc = NULL;
    int32_t *qi = NULL, *nq = NULL;
    int32_t *xi = NULL;
    const int64_t Q = B * nw;
    row_fn fn = ROW_FNS[(p->rounding ? 8 : 0) | (p->uniform ? 4 : 0) | (p->d2d ? 2 : 0) |
                        (p->c2c ? 1 : 0)];
    cw = malloc(sizeof(uint32_t) * C);
    for (int64_t j = 0; j < C; j++)
        cw[j] = (uint32_t)cw64[j];
    if (kind == 0) {
        rwT = malloc(sizeof(uint32_t) * R * Q);
        rmk = malloc(sizeof(uint32_t) * R * Q);
        csg = malloc(sizeof(uint32_t) * Q * C);
        rwc = malloc(sizeof(uint32_t) * R * Q);
        rmkc = malloc(sizeof(uint32_t) * R * Q);
        qi = malloc(sizeof(int32_t) * R * Q);
        nq = calloc(R, sizeof(int32_t));
        for (int64_t q = 0; q < Q; q++) {
            const int64_t b = q / nw;
            for (int64_t i = 0; i < R; i++) {
                rwT[i * Q + q] = rwords[q * R + i];
                rmk[i * Q + q] = rneg[b * R + i] ? 0xFEFEFEFEu : 0u;
            }
            for (int64_t j = 0; j < C; j++)
                csg[q * C + j] = cneg[b * C + j] ? 0xFFFFFFFFu : 0x01010101u;
        }
        for (int64_t i = 0; i < R; i++)          /* each row's nonzero words, in order of q */
            for (int64_t q = 0; q < Q; q++)
                if (rwT[i * Q + q]) {
                    const int64_t k = i * Q + nq[i]++;
                    rwc[k] = rwT[i * Q + q];
                    rmkc[k] = rmk[i * Q + q];
                    qi[k] = (int32_t)q;
                }
    }
    if (kind == 1 || kind == 4) {
        const int64_t nb = kind == 1 ? 1 : B;
        xi = malloc(sizeof(int32_t) * (nb * C > 0 ? nb * C : 1));
        for (int64_t q = 0; q < nb * C; q++)
            xi[q] = (int32_t)sat(x[q], code_max);
    }
    int64_t pulses = 0, n_up = 0, n_stuck = 0;
    const int64_t nblk = (R + RBLK - 1) / RBLK;
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(static) \
    reduction(+ : pulses, n_up, n_stuck) \
    if (nblk > 1 && R * C * (Q + (kind == 4 ? B : 1)) >= 65536)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t i0 = blk * RBLK, i1 = i0 + RBLK < R ? i0 + RBLK : R;
        if (kind == 0)
        {
            /* dense 4-row blocks share each column load; sparse rows skip their zero words */
            int64_t nz = 0;
            for (int64_t i = i0; i < i1; i++)
                nz += nq[i];
            if (i1 - i0 == RBLK && nz * SPARSE_DEN > (int64_t)RBLK * Q * SPARSE_NUM)
                coinc_rows(RBLK, Q, C, sums + i0 * C, rwT + i0 * Q, rmk + i0 * Q, cwords, csg);
            else
                for (int64_t i = i0; i < i1; i++)
                    coinc_row_sparse(nq[i], qi + i * Q, rwc + i * Q, rmkc + i * Q, C,
                                     sums + i * C, cwords, csg);
        }
        for (int64_t i = i0; i < i1; i++) {
            int32_t *a = sums + i * C;
            int touched = 1;
            if (kind == 0) {
                touched = nq[i] > 0;
            } else if (kind == 1) {
                const int32_t di = (int32_t)sat(d[i], code_max);
                touched = di != 0;
                if (di)
                    for (int64_t j = 0; j < C; j++)
                        a[j] += di * xi[j];
            } else if (kind == 4) {
                touched = 0;
                for (int64_t b = 0; b < B; b++) {
                    const int32_t db = (int32_t)sat(d[b * R + i], code_max);
                    if (!db)
                        continue;
                    touched = 1;
                    const int32_t *xb = xi + b * C;
                    for (int64_t j = 0; j < C; j++)
                        a[j] += db * xb[j];
                }
            }
            if (touched) {
                int64_t cnt[2] = {0, 0};
                pulses += fn(C, a, gp + i * C, gm + i * C, w16 + i * C, (uint32_t)rw[i], cw,
                             fp ? fp + i * C : NULL, fm ? fm + i * C : NULL, steps, gauss, root, p,
                             stuck ? stuck + i * C : NULL, cnt);
                n_up += cnt[0];
                n_stuck += cnt[1];
            }
        }
    }
    free(cw);
    free(xi);
    free(rwords);
    free(cwords);
    free(rneg);
    free(cneg);
    free(rwc);
    free(rmkc);
    free(qi);
    free(nq);
    free(rwT);
    free(rmk);
    free(csg);
    if (counts) {
        counts[0] = n_up;
        counts[1] = n_stuck;
    }
    return pulses;
}

/* A read (contract section 5, without read noise): out[b][o] = clamp(round_shift(sum over k of
 * v[b][k] * w[o][k], sh), lo, hi) for B input vectors v (B x K: the codes, saturated here to
 * [-code_max, code_max]) and the weight matrix w
 * (n x K, row-major; the caller passes W for y = W x and W^T for z = W^T d). The caller checks
 * that every sum fits in 32 bits (|v| <= 127, |w| <= CMAX). The inner product is the widening
 * int16 dot product that compilers turn into vpmaddwd; four outputs share each load of v. */
static inline int32_t dot16(int64_t K, const int16_t *restrict a, const int16_t *restrict b)
{
    int32_t s = 0;
    for (int64_t k = 0; k < K; k++)
        s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

#ifdef __AVX2__
static inline int32_t hsum8(__m256i v)
{
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* Two inputs x four weight rows at once: each load feeds two or four vpmaddwd. */
static inline void dot_2x4(int64_t K, const int16_t *v, const int16_t *w, int32_t out[2][4])
{
    __m256i acc[2][4];
    for (int b = 0; b < 2; b++)
        for (int o = 0; o < 4; o++)
            acc[b][o] = _mm256_setzero_si256();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(v + k));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(v + K + k));
        for (int o = 0; o < 4; o++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(w + o * K + k));
            acc[0][o] = _mm256_add_epi32(acc[0][o], _mm256_madd_epi16(a0, wv));
            acc[1][o] = _mm256_add_epi32(acc[1][o], _mm256_madd_epi16(a1, wv));
        }
    }
    for (int b = 0; b < 2; b++)
        for (int o = 0; o < 4; o++) {
            int32_t sum = hsum8(acc[b][o]);
            for (int64_t r = k; r < K; r++)
                sum += (int32_t)v[b * K + r] * (int32_t)w[o * K + r];
            out[b][o] = sum;
        }
}
#endif

/* The exact int32 sums y[b * n + o] = sum over k of v[b][k] * w[o][k] (v: B x K, w: n x K). */
static void dots(int64_t B, int64_t n, int64_t K, const int16_t *v, const int16_t *w,
                 int32_t *y, int64_t threads)
{
    const int64_t nb = (B + 1) / 2, no = (n + 3) / 4;
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2) if (B * n * K > 400000)
    for (int64_t bb = 0; bb < nb; bb++)
        for (int64_t oo = 0; oo < no; oo++) {
            const int64_t b0 = 2 * bb, o0 = 4 * oo;
            int32_t y32[2][4];
#ifdef __AVX2__
            if (b0 + 2 <= B && o0 + 4 <= n) {
                dot_2x4(K, v + b0 * K, w + o0 * K, y32);
            } else
#endif
            {
                for (int b = 0; b < 2 && b0 + b < B; b++)
                    for (int o = 0; o < 4 && o0 + o < n; o++)
                        y32[b][o] = dot16(K, v + (b0 + b) * K, w + (o0 + o) * K);
            }
            for (int b = 0; b < 2 && b0 + b < B; b++)
                for (int o = 0; o < 4 && o0 + o < n; o++)
                    y[(b0 + b) * n + o0 + o] = y32[b][o];
        }
}

/* The dot products and the ADC of a read of the saturated codes v (B x K), with the
 * per-output read noise noise[b * n + o] added before the ADC (NULL: no noise). */
static void read_core(int64_t B, int64_t n, int64_t K, const int16_t *v, const int16_t *w,
                      const int64_t *noise, int64_t sh, int64_t lo, int64_t hi, int64_t *out,
                      int64_t threads)
{
    const int64_t half = sh ? ((int64_t)1 << sh) >> 1 : 0;
    int32_t *y = malloc(sizeof(int32_t) * (B * n ? B * n : 1));
    dots(B, n, K, v, w, y, threads);
    for (int64_t q = 0; q < B * n; q++) {
        const int64_t r = ((int64_t)y[q] + (noise ? noise[q] : 0) + half) >> sh;
        out[q] = r < lo ? lo : (r > hi ? hi : r);
    }
    free(y);
}

static int16_t *saturated16(int64_t q, int64_t code_max, const int64_t *codes)
{
    int16_t *v = malloc(sizeof(int16_t) * (q ? q : 1));
    for (int64_t k = 0; k < q; k++)
        v[k] = (int16_t)sat(codes[k], code_max);
    return v;
}

void memhil_read(int64_t B, int64_t n, int64_t K, int64_t code_max, const int64_t *codes,
                 const int16_t *w, int64_t sh, int64_t lo, int64_t hi, int64_t *out,
                 int64_t threads)
{
    int16_t *v = saturated16(B * K, code_max, codes);
    read_core(B, n, K, v, w, NULL, sh, lo, hi, out, threads);
    free(v);
}

/* A read with read noise (contract sections 4.3 and 5, RN_Q != 0), in the order the contract
 * defines: for every sample b in turn, each output LFSR (rows for a forward read, columns for
 * a transpose read: states[0..n)) advances read_k8 * 8 single steps and draws
 * g = GAUSS[state & 0xFF]; the output's total current is
 *   T = sum over k of |v[b][k]| * (gp + gm + 2 * C0)   (the cells of output o)
 * and the noise added before the ADC is (g * ((rn_q * T) >> rn_frac)) >> gauss_shift.
 * gp, gm: the tile's codes (R x C, row-major); forward: n = R, K = C; transpose: n = C, K = R.
 * s16 (n x K, like w), when given (2 * CMAX < 2^15): gp + gm as int16, for the int16 dot
 * products of the reads; else the sums are formed from gp and gm here.
 * The caller checks that K * code_max * 2 * CMAX < 2^31 (T less its C0 part fits in 32 bits,
 * the C0 part is added in 64). */
void memhil_read_noisy(int64_t B, int64_t n, int64_t K, int64_t code_max, const int64_t *codes,
                       const int16_t *w, const int16_t *s16, const int32_t *gp,
                       const int32_t *gm, int64_t transpose,
                       int64_t two_c0, int64_t rn_q, int64_t rn_frac, int64_t gauss_shift,
                       int64_t read_k8, const uint32_t *t8, const int32_t *gauss,
                       int64_t *states, int64_t sh, int64_t lo, int64_t hi, int64_t *out,
                       int64_t threads)
{
    int16_t *v = saturated16(B * K, code_max, codes);
    int32_t *av = malloc(sizeof(int32_t) * (B * K ? B * K : 1));
    int64_t *noise = malloc(sizeof(int64_t) * (B * n ? B * n : 1));
    int64_t *sabs = malloc(sizeof(int64_t) * (B ? B : 1));
    for (int64_t b = 0; b < B; b++) {
        int64_t sa = 0;
        for (int64_t k = 0; k < K; k++) {
            const int32_t a = v[b * K + k] < 0 ? -v[b * K + k] : v[b * K + k];
            av[b * K + k] = a;
            sa += a;
        }
        sabs[b] = sa * two_c0;
    }
    (void)threads;
    /* the total currents T (into noise[], in place) */
    if (s16) {
        int16_t *a16 = malloc(sizeof(int16_t) * (B * K ? B * K : 1));
        int32_t *t32 = malloc(sizeof(int32_t) * (B * n ? B * n : 1));
        for (int64_t q = 0; q < B * K; q++)
            a16[q] = (int16_t)av[q];
        dots(B, n, K, a16, s16, t32, threads);
        for (int64_t b = 0; b < B; b++)
            for (int64_t o = 0; o < n; o++)
                noise[b * n + o] = (int64_t)t32[b * n + o] + sabs[b];
        free(t32);
        free(a16);
    } else if (!transpose) {
#pragma omp parallel for num_threads(threads) schedule(static) if (B * n * K > 400000)
        for (int64_t o = 0; o < n; o++) {
            const int32_t *p = gp + o * K, *m = gm + o * K;
            for (int64_t b = 0; b < B; b++) {
                const int32_t *a = av + b * K;
                int32_t s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += a[k] * (p[k] + m[k]);
                noise[b * n + o] = (int64_t)s + sabs[b];
            }
        }
    } else {
        const int64_t JB = 256, nj = (n + JB - 1) / JB;
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2) if (B * n * K > 400000)
        for (int64_t b = 0; b < B; b++)
            for (int64_t jb = 0; jb < nj; jb++) {
                const int64_t j0 = jb * JB, j1 = j0 + JB < n ? j0 + JB : n;
                int32_t acc[256];
                for (int64_t j = j0; j < j1; j++)
                    acc[j - j0] = 0;
                for (int64_t i = 0; i < K; i++) {
                    const int32_t a = av[b * K + i];
                    if (!a)
                        continue;
                    const int32_t *p = gp + i * n, *m = gm + i * n;
                    for (int64_t j = j0; j < j1; j++)
                        acc[j - j0] += a * (p[j] + m[j]);
                }
                for (int64_t j = j0; j < j1; j++)
                    noise[b * n + j] = (int64_t)acc[j - j0] + sabs[b];
            }
    }
    /* the draws: sample by sample, each output's LFSR in turn */
    for (int64_t o = 0; o < n; o++) {
        uint32_t s = (uint32_t)states[o];
        for (int64_t b = 0; b < B; b++) {
            for (int64_t k = 0; k < read_k8; k++)
                s = step8(s, t8);
            const int64_t g = gauss[s & 0xFFu];
            noise[b * n + o] = (g * ((rn_q * noise[b * n + o]) >> rn_frac)) >> gauss_shift;
        }
        states[o] = (int64_t)s;
    }
    read_core(B, n, K, v, w, noise, sh, lo, hi, out, threads);
    free(sabs);
    free(noise);
    free(av);
    free(v);
}

/* The weight codes gp - gm of a tile (R x C) as int16, row-major (transpose bit 0 clear) or
 * transposed (C x R; in blocks of 16 x 16 so that reads and writes stay in cache). The caller
 * checks that CMAX fits in 15 bits. */
void memhil_weights16(int64_t R, int64_t C, const int32_t *gp, const int32_t *gm, int16_t *w,
                      int64_t transpose)
{
    /* transpose bit 1: the sums gp + gm (the noisy reads' total currents; the caller checks
     * that 2 * CMAX < 2^15) instead of the differences */
    const int32_t sg = (transpose & 2) ? 1 : -1;
    if (!(transpose & 1)) {
        for (int64_t q = 0; q < R * C; q++)
            w[q] = (int16_t)(gp[q] + sg * gm[q]);
        return;
    }
    for (int64_t i0 = 0; i0 < R; i0 += 16)
        for (int64_t j0 = 0; j0 < C; j0 += 16) {
            const int64_t i1 = i0 + 16 < R ? i0 + 16 : R, j1 = j0 + 16 < C ? j0 + 16 : C;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1; i++)
                    w[j * R + i] = (int16_t)(gp[i * C + j] + sg * gm[i * C + j]);
        }
}

/* Host-side DAC coding (memhil.nn.layer, not the contract): float32 values to integer codes
 * exactly as the layer's torch expressions do, in double precision, rounding half to even
 * (nearbyint in the default rounding mode):
 *   memhil_codes_scaled: codes = clamp(nearbyint((double)x * mul), -dac, dac)
 *   memhil_codes_rows:   per row b, m = max |x|, scale[b] = m > 0 ? m / dac : 1,
 *                        codes = nearbyint((double)x / scale[b]) (never beyond dac). */
#include <math.h>

void memhil_codes_scaled(int64_t n, const float *x, double mul, int64_t dac, int64_t *codes)
{
    const double lim = (double)dac;
    for (int64_t i = 0; i < n; i++) {
        double v = nearbyint((double)x[i] * mul);
        v = v < -lim ? -lim : (v > lim ? lim : v);
        codes[i] = (int64_t)v;
    }
}

/* One row's DAC scale: max |v| / dac (1 for an all-zero row); *m gets max |v|. */
static double row_scale(const float *v, int64_t n, int64_t dac, float *m)
{
    float top = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = fabsf(v[i]);
        top = a > top ? a : top;
    }
    *m = top;
    return top > 0.0f ? (double)top / (double)dac : 1.0;
}

void memhil_codes_rows(int64_t B, int64_t n, const float *x, int64_t dac, int64_t *codes,
                       double *scale)
{
    for (int64_t b = 0; b < B; b++) {
        const float *xb = x + b * n;
        float m;
        const double s = row_scale(xb, n, dac, &m);
        scale[b] = s;
        for (int64_t i = 0; i < n; i++)
            codes[b * n + i] = (int64_t)nearbyint((double)xb[i] / s);
    }
}

/* ------------------------------------------------------------------------------------------
 * The fused training step (memhil.nn.fused): the reads, the ADC auto-ranging, the host's DAC
 * coding and the pulse updates of an MLP whose layers each sit on one tile of a native twin,
 * in three calls per minibatch (forward, backward, update) instead of a few hundred small
 * torch operations. It computes exactly what CrossbarLinear and the Twin compute (the same
 * float32/float64 operations in the same order, the same integer reads and kernels; the
 * tests compare the two paths bit for bit); the host's decisions that are not arithmetic on
 * arrays (the new ADC shift, the update scales, the loss) stay in memhil.hostmath, called by
 * the Python side between the calls.
 *
 * Layer l: a tile of R rows (outputs) and C columns (inputs, the last one the bias input 1
 * when bias), its state (gp, gm, w16 = gp - gm as int16, LFSRs) and its update's scratch
 * buffer of batch sums, its apply parameters,
 * its read registers, and per step: the ADC shifts to start from ([0] forward, [1]
 * transpose) and what the reads did (final shift, largest |code|, number of reads), the
 * float32 buffers xin (B x C: the layer's input with the bias column), y (B x R: its output)
 * and gy (B x R: dL/dy), the largest |xin| and |gy| (mx, md) and the update's code scales. */
typedef struct {
    int64_t R, C, bias;
    int32_t *gp, *gm, *sums;          /* sums: the update's scratch (memhil_update) */
    int16_t *w16;
    int64_t *row_lfsr, *col_lfsr;
    const int32_t *fp, *fm, *steps;
    const apply_params *ap;
    int64_t lr_q;                      /* LR_Q of this layer's update, or -1: ap's */
    int64_t do_update;
    int64_t rn_q, two_c0, adc_lo, adc_hi;
    int64_t range_hi, dac;             /* auto-ranging threshold (the layer's adc_hi), DAC max */
    double w_unit, ax, ad;
    int64_t shift[2], sreg[2], top[2], reads[2];
    double mx, md;
    int64_t pulses;
    float *xin, *y, *gy;
    const uint8_t *stuck;              /* the tile's stuck devices (NULL: none) */
    int64_t counts[2];                 /* the update's pulses up (not stuck) and to stuck devices */
} fused_layer;

/* What every layer shares: the contract's tables and constants, the host's ranging rule. */
typedef struct {
    const uint32_t *t8;
    const uint8_t *fb;
    const int32_t *gauss, *root;
    int64_t rn_frac, gauss_shift, read_k8, code_max;
    int64_t max_shift, max_tries, shift_step;
} fused_const;

/* Per-row DAC codes of v (B x n float32): scale[b] = m > 0 ? m / dac : 1 with m = max |v|
 * (memhil_codes_rows), the codes saturated to code_max as the twin's reads do; returns the
 * largest m. */
static float row_codes16(int64_t B, int64_t n, const float *v, int64_t dac, int64_t code_max,
                         int16_t *codes, double *scale)
{
    float top = 0.0f;
    for (int64_t b = 0; b < B; b++) {
        const float *vb = v + b * n;
        float m;
        const double s = row_scale(vb, n, dac, &m);
        scale[b] = s;
        for (int64_t i = 0; i < n; i++)
            codes[b * n + i] = (int16_t)sat((int64_t)nearbyint((double)vb[i] / s), code_max);
        top = m > top ? m : top;
    }
    return top;
}

/* The exact int32 sums of a transpose read from the row-major weights: z[b][j] = sum over i
 * of v[b][i] * w[i][j] (v: B x R, w: R x C), one row of w at a time, skipping zero codes. */
static void tdots(int64_t B, int64_t R, int64_t C, const int16_t *v, const int16_t *w,
                  int32_t *z, int64_t threads)
{
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(static) if (B * R * C > 400000)
    for (int64_t b = 0; b < B; b++) {
        int32_t *zb = z + b * C;
        for (int64_t j = 0; j < C; j++)
            zb[j] = 0;
        for (int64_t i = 0; i < R; i++) {
            const int32_t a = v[b * R + i];
            if (!a)
                continue;
            const int16_t *wi = w + i * C;
            for (int64_t j = 0; j < C; j++)
                zb[j] += a * (int32_t)wi[j];
        }
    }
}

/* The total currents of a noisy read less their C0 part, T[b][o] = sum over k of |v[b][k]| *
 * (gp + gm) of the cells of output o, plus the C0 part sum |v[b]| * 2 C0 (memhil_read_noisy). */
static void currents(const fused_layer *L, int64_t B, const int16_t *v, int transpose,
                     int64_t *T)
{
    const int64_t R = L->R, C = L->C, n = transpose ? C : R, K = transpose ? R : C;
    int32_t *acc = malloc(sizeof(int32_t) * (n > 0 ? n : 1));
    for (int64_t b = 0; b < B; b++) {
        const int16_t *vb = v + b * K;
        int64_t sa = 0;
        for (int64_t k = 0; k < K; k++)
            sa += vb[k] < 0 ? -vb[k] : vb[k];
        if (!transpose) {
            for (int64_t o = 0; o < n; o++) {
                const int32_t *p = L->gp + o * C, *m = L->gm + o * C;
                int32_t s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (int32_t)(vb[k] < 0 ? -vb[k] : vb[k]) * (p[k] + m[k]);
                acc[o] = s;
            }
        } else {
            for (int64_t j = 0; j < n; j++)
                acc[j] = 0;
            for (int64_t i = 0; i < K; i++) {
                const int32_t a = vb[i] < 0 ? -vb[i] : vb[i];
                if (!a)
                    continue;
                const int32_t *p = L->gp + i * C, *m = L->gm + i * C;
                for (int64_t j = 0; j < n; j++)
                    acc[j] += a * (p[j] + m[j]);
            }
        }
        for (int64_t o = 0; o < n; o++)
            T[b * n + o] = (int64_t)acc[o] + sa * L->two_c0;
    }
    free(acc);
}

/* A read of the codes v (B x K) with the host's auto-ranging ADC gain (CrossbarLinear._ranged):
 * read at the shift s = L->shift[dir]; while the largest |code| reaches range_hi and s is below
 * max_shift, read again at s + shift_step (at most max_tries reads; with read noise each read
 * draws new noise, advancing the output LFSRs, as every read does). The float32 outputs
 * out[b][o] = (float)(code * (scale[b] * (w_unit * 2^s))) of the first n_keep outputs go to
 * yout (B x n_keep). Records the final shift, the shift of the last read (the ADC_SHIFT
 * register's value), the largest |code| and the number of reads. The integer sums do not
 * depend on the shift, so they are formed once; only the noise draws and the ADC repeat. */
static void ranged_read(fused_layer *L, const fused_const *k, int64_t B, const int16_t *v,
                        const double *scale, int transpose, float *yout, int64_t n_keep,
                        int64_t threads)
{
    const int64_t R = L->R, C = L->C, n = transpose ? C : R;
    const int64_t q = B * n > 0 ? B * n : 1;
    int32_t *y32 = malloc(sizeof(int32_t) * q);
    int64_t *out = malloc(sizeof(int64_t) * q);
    int64_t *T = NULL, *noise = NULL;
    if (transpose)
        tdots(B, R, C, v, L->w16, y32, threads);
    else
        dots(B, R, C, v, L->w16, y32, threads);
    if (L->rn_q) {
        T = malloc(sizeof(int64_t) * q);
        noise = malloc(sizeof(int64_t) * q);
        currents(L, B, v, transpose, T);
    }
    int64_t *states = transpose ? L->col_lfsr : L->row_lfsr;
    const int d = transpose ? 1 : 0;
    int64_t s = L->shift[d], top = 0, tries = 0;
    for (;;) {
        tries++;
        if (T) {                       /* sample by sample, each output's LFSR in turn */
            for (int64_t o = 0; o < n; o++) {
                uint32_t st = (uint32_t)states[o];
                for (int64_t b = 0; b < B; b++) {
                    for (int64_t r = 0; r < k->read_k8; r++)
                        st = step8(st, k->t8);
                    const int64_t g = k->gauss[st & 0xFFu];
                    noise[b * n + o] = (g * ((L->rn_q * T[b * n + o]) >> k->rn_frac))
                                       >> k->gauss_shift;
                }
                states[o] = (int64_t)st;
            }
        }
        const int64_t half = s ? ((int64_t)1 << s) >> 1 : 0;
        top = 0;
        for (int64_t e = 0; e < B * n; e++) {
            int64_t r = ((int64_t)y32[e] + (T ? noise[e] : 0) + half) >> s;
            r = r < L->adc_lo ? L->adc_lo : (r > L->adc_hi ? L->adc_hi : r);
            out[e] = r;
            const int64_t a = r < 0 ? -r : r;
            top = a > top ? a : top;
        }
        L->sreg[d] = s;                /* the ADC_SHIFT of the last read */
        if (s >= k->max_shift || top < L->range_hi)
            break;
        s = s + k->shift_step < k->max_shift ? s + k->shift_step : k->max_shift;
        if (tries >= k->max_tries)     /* (as the layer's loop: s raised, no read at it) */
            break;
    }
    L->shift[d] = s;
    L->top[d] = top;
    L->reads[d] = tries;
    const double unit = L->w_unit * (double)((int64_t)1 << s);
    for (int64_t b = 0; b < B; b++) {
        const double f = scale[b] * unit;
        for (int64_t o = 0; o < n_keep; o++)
            yout[b * n_keep + o] = (float)((double)out[b * n + o] * f);
    }
    free(noise);
    free(T);
    free(out);
    free(y32);
}

/* Forward through the L layers: x (B x in_features of layer 0, float32) in; each layer's xin
 * (its input, the previous output through ReLU, with the bias column 1), y (its output; the
 * last layer's are the logits), mx, and the reads' shifts, tops and counts out. */
void memhil_fused_forward(int64_t nl, fused_layer *ls, const fused_const *k, int64_t B,
                          const float *x, int64_t threads)
{
    for (int64_t l = 0; l < nl; l++) {
        fused_layer *L = ls + l;
        const int64_t C = L->C, n_in = C - (L->bias ? 1 : 0);
        for (int64_t b = 0; b < B; b++) {
            float *xb = L->xin + b * C;
            if (l == 0) {
                memcpy(xb, x + b * n_in, sizeof(float) * n_in);
            } else {
                const float *yp = ls[l - 1].y + b * n_in;
                for (int64_t j = 0; j < n_in; j++)
                    xb[j] = yp[j] > 0.0f ? yp[j] : 0.0f;
            }
            if (L->bias)
                xb[n_in] = 1.0f;
        }
        int16_t *v = malloc(sizeof(int16_t) * (B * C > 0 ? B * C : 1));
        double *scale = malloc(sizeof(double) * (B > 0 ? B : 1));
        L->mx = (double)row_codes16(B, C, L->xin, L->dac, k->code_max, v, scale);
        ranged_read(L, k, B, v, scale, 0, L->y, L->R, threads);
        free(scale);
        free(v);
    }
}

/* Backward: grad (B x R of the last layer, float64: d loss / d logits) is cast to float32
 * into the last layer's gy; then for l = L-1 .. 1 a transpose read of gy gives dL/dx, whose
 * bias column is dropped and which passes the previous layer's ReLU (dL/dy of layer l-1 is 0
 * where its output y <= 0). Every layer's md = max |gy|. */
void memhil_fused_backward(int64_t nl, fused_layer *ls, const fused_const *k, int64_t B,
                           const double *grad, int64_t threads)
{
    fused_layer *last = ls + nl - 1;
    for (int64_t e = 0; e < B * last->R; e++)
        last->gy[e] = (float)grad[e];
    for (int64_t l = nl - 1; l >= 0; l--) {
        fused_layer *L = ls + l;
        const int64_t R = L->R, C = L->C, n_in = C - (L->bias ? 1 : 0);
        int16_t *v = malloc(sizeof(int16_t) * (B * R > 0 ? B * R : 1));
        double *scale = malloc(sizeof(double) * (B > 0 ? B : 1));
        L->md = (double)row_codes16(B, R, L->gy, L->dac, k->code_max, v, scale);
        if (l > 0) {
            fused_layer *P = ls + l - 1;
            float *gx = malloc(sizeof(float) * (B * C > 0 ? B * C : 1));
            ranged_read(L, k, B, v, scale, 1, gx, C, threads);
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < n_in; j++)
                    P->gy[b * n_in + j] = P->y[b * n_in + j] > 0.0f ? gx[b * C + j] : 0.0f;
            free(gx);
        }
        free(scale);
        free(v);
    }
}

/* The pulse updates of the layers with do_update (in layer order): the codes
 * clamp(round(xin * ax)) and clamp(round(gy * -ad)) (memhil_codes_scaled), then
 * memhil_update (coincidence; rounding of one sample; rounding of B samples) and its apply.
 * Each layer's pulses out. */
void memhil_fused_update(int64_t nl, fused_layer *ls, const fused_const *k, int64_t B,
                         int64_t threads)
{
    for (int64_t l = 0; l < nl; l++) {
        fused_layer *L = ls + l;
        L->pulses = 0;
        L->counts[0] = L->counts[1] = 0;
        if (!L->do_update)
            continue;
        const int64_t R = L->R, C = L->C;
        int64_t *xc = malloc(sizeof(int64_t) * (B * C > 0 ? B * C : 1));
        int64_t *dc = malloc(sizeof(int64_t) * (B * R > 0 ? B * R : 1));
        memhil_codes_scaled(B * C, L->xin, L->ax, L->dac, xc);
        memhil_codes_scaled(B * R, L->gy, -L->ad, L->dac, dc);
        apply_params p = *L->ap;
        if (L->lr_q >= 0)
            p.lr_q = L->lr_q;
        const int64_t kind = !p.rounding ? 0 : (B == 1 ? 1 : 4);
        L->pulses = memhil_update(kind, R, C, B, dc, xc, L->sums, L->gp, L->gm, L->w16,
                                  L->row_lfsr, L->col_lfsr, L->fp, L->fm, L->steps, k->gauss,
                                  k->root, k->t8, k->fb, &p, threads, L->stuck,
                                  L->counts);
        free(dc);
        free(xc);
    }
}
