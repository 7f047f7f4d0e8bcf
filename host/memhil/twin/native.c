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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t step8(uint32_t s, const uint32_t *t8) { return (s >> 8) ^ t8[s & 0xFFu]; }

/* Advance n states by k8 * 8 single steps. */
void memhil_advance(int64_t n, int64_t k8, const uint32_t *t8, int64_t *states)
{
    for (int64_t a = 0; a < n; a++) {
        uint32_t s = (uint32_t)states[a];
        for (int64_t k = 0; k < k8; k++)
            s = step8(s, t8);
        states[a] = (int64_t)s;
    }
}

/* Stochastic streams of one side (rows or columns), contract section 4.
 * n states, B samples of codes (B x n, saturated to [-127, 127] by the caller), bl bits per
 * sample, each bit spb * 8 single steps after the previous one. Bit t of sample b sits in
 * word (b * nw + t / 32), bit t % 32, of words[(b * nw + t / 32) * n + a]; neg[b * n + a] is
 * -1 where the code is negative, else 0. States advance by B * bl * spb * 8 steps. */
void memhil_streams(int64_t n, int64_t B, int64_t bl, int64_t spb, int64_t prob_mask,
                    const uint32_t *t8, const int64_t *codes, int64_t *states,
                    uint32_t *words, int32_t *neg)
{
    const int64_t nw = (bl + 31) / 32;
    uint32_t *s = malloc(sizeof(uint32_t) * n);
    uint32_t *mag = malloc(sizeof(uint32_t) * n);
    for (int64_t a = 0; a < n; a++)
        s[a] = (uint32_t)states[a];
    memset(words, 0, sizeof(uint32_t) * B * nw * n);
    for (int64_t b = 0; b < B; b++) {
        const int64_t *cb = codes + b * n;
        for (int64_t a = 0; a < n; a++) {
            int64_t c = cb[a];
            mag[a] = (uint32_t)(c < 0 ? -c : c);
            neg[b * n + a] = c < 0 ? -1 : 0;
        }
        for (int64_t t = 0; t < bl; t++) {
            uint32_t *w = words + (b * nw + t / 32) * n;
            const uint32_t bit = 1u << (t % 32);
            for (int64_t a = 0; a < n; a++) {
                uint32_t v = s[a];
                for (int64_t k = 0; k < spb; k++)
                    v = step8(v, t8);
                s[a] = v;
                w[a] |= ((v & (uint32_t)prob_mask) < mag[a]) ? bit : 0u;
            }
        }
    }
    for (int64_t a = 0; a < n; a++)
        states[a] = (int64_t)s[a];
    free(s);
    free(mag);
}

/* Parameters of one apply (contract section 6), as the caller read them from the registers. */
typedef struct {
    int64_t cmax, sub_bits, c2c_q, lr_q;
    int64_t s_up0, s_dn0;          /* the step tables' first entries (uniform tables) */
    int64_t lr_frac, nmax, max_levels, factor_frac, step_frac, noise_shift;
    int64_t rounding, uniform, d2d, c2c;
} apply_params;

/* Apply one row's accumulators a[0..C) to the row's devices (acc, gp, gm rows), with row
 * noise word rw and the column words cw. Returns the pulses applied. The flags are passed as
 * constants by the callers below, so the compiler emits one specialised loop per variant. */
static inline __attribute__((always_inline)) int64_t
apply_row(int64_t C, int32_t *restrict a, int32_t *restrict gp, int32_t *restrict gm,
          uint32_t rw, const uint32_t *restrict cw, const int32_t *restrict fp,
          const int32_t *restrict fm, const int32_t *restrict steps, const int32_t *restrict gauss,
          const int32_t *restrict root, const apply_params *p,
          const int rounding, const int uniform, const int d2d, const int c2c)
{
    const int32_t cmax = (int32_t)p->cmax, sub = (int32_t)p->sub_bits;
    const int32_t nmax = (int32_t)p->nmax, maxl = (int32_t)p->max_levels;
    const int64_t c2c_q = p->c2c_q;
    const uint32_t ll = (uint32_t)(p->lr_q & 0xFFFF), lh = (uint32_t)(p->lr_q >> 16);
    const uint32_t lhc = lh < (uint32_t)nmax + 1 ? lh : (uint32_t)nmax + 1;
    const int32_t up0 = (int32_t)p->s_up0, dn0 = (int32_t)p->s_dn0;
    const int ff = (int)p->factor_frac, sf = (int)p->step_frac;
    const int ns = (int)p->noise_shift;
    int64_t pulses = 0;
    for (int64_t j = 0; j < C; j++) {
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
        int64_t total = (int64_t)n * step1;
        if (c2c) {
            const int64_t x = (int64_t)step1 * gauss[r & 0xFFu];
            const int64_t y = c2c_q * root[n];
            total += (x * y) >> ns;
            total = total > 0 ? total : 0;
        }
        const int32_t delta = (int32_t)((total + ((r >> 8) & 0xFFu)) >> sf);
        int32_t nc = low ? c + delta : c - delta;
        nc = nc < 0 ? 0 : nc;
        nc = nc > cmax ? cmax : nc;
        const int act = n > 0;
        gp[j] = (act & plus) ? nc : p0;
        gm[j] = (act & !plus) ? nc : m0;
        pulses += act ? n : 0;
        a[j] = 0;
    }
    return pulses;
}

typedef int64_t (*row_fn)(int64_t, int32_t *, int32_t *, int32_t *, uint32_t, const uint32_t *,
                          const int32_t *, const int32_t *, const int32_t *, const int32_t *,
                          const int32_t *, const apply_params *);

#define VARIANT(R_, U_, D_, N_)                                                                   \
    static int64_t apply_row_##R_##U_##D_##N_(                                                    \
        int64_t C, int32_t *restrict a, int32_t *restrict gp, int32_t *restrict gm, uint32_t rw,  \
        const uint32_t *restrict cw, const int32_t *restrict fp, const int32_t *restrict fm,      \
        const int32_t *restrict steps, const int32_t *restrict gauss,                             \
        const int32_t *restrict root, const apply_params *restrict p)                             \
    {                                                                                             \
        return apply_row(C, a, gp, gm, rw, cw, fp, fm, steps, gauss, root, p, R_, U_, D_, N_);    \
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

/* Add one sample's coincidence counts to an accumulator row: a[j] += sr * sc_j * popcount.
 * rword: the row's stream word; cwords/cneg: the columns' words and sign masks. */
static inline void coinc_row(int64_t C, int32_t *restrict a, uint32_t rword, int32_t rneg,
                             const uint32_t *restrict cwords, const int32_t *restrict cneg)
{
    for (int64_t j = 0; j < C; j++) {
        const int32_t m = cneg[j] ^ rneg;          /* -1 where the signs differ */
        const int32_t k = __builtin_popcount(rword & cwords[j]);
        a[j] += (k ^ m) - m;
    }
}

/* One update of a tile: add the increments of B samples to the accumulators and, if apply,
 * apply them (contract sections 5-6), one row at a time so that the row stays in cache.
 *
 * kind 0: pulse coincidence, rwords/rneg (B*nw x R, B x R) and cwords/cneg from
 *         memhil_streams; kind 1: rounding of one sample, outer product d[i] * x[j] of the
 *         codes d (R) and x (C); kind 2: add the precomputed increments inc (R x C);
 *         kind 3: no increments (apply only).
 * rw/cw: the LFSR words of the apply (already advanced by the caller). Returns the pulses. */
int64_t memhil_update(int64_t kind, int64_t R, int64_t C, int64_t B, int64_t nw,
                      const uint32_t *rwords, const int32_t *rneg,
                      const uint32_t *cwords, const int32_t *cneg,
                      const int64_t *d, const int64_t *x, const int32_t *inc,
                      int64_t apply, int32_t *acc, int32_t *gp, int32_t *gm,
                      const int64_t *rw, const int64_t *cw64, const int32_t *fp, const int32_t *fm,
                      const int32_t *steps, const int32_t *gauss, const int32_t *root,
                      const apply_params *p)
{
    uint32_t *cw = NULL;
    int32_t *xi = NULL;
    row_fn fn = ROW_FNS[(p->rounding ? 8 : 0) | (p->uniform ? 4 : 0) | (p->d2d ? 2 : 0) |
                        (p->c2c ? 1 : 0)];
    if (apply) {
        cw = malloc(sizeof(uint32_t) * C);
        for (int64_t j = 0; j < C; j++)
            cw[j] = (uint32_t)cw64[j];
    }
    if (kind == 1) {
        xi = malloc(sizeof(int32_t) * C);
        for (int64_t j = 0; j < C; j++)
            xi[j] = (int32_t)x[j];
    }
    int64_t pulses = 0;
    for (int64_t i = 0; i < R; i++) {
        int32_t *a = acc + i * C;
        if (kind == 0) {
            for (int64_t b = 0; b < B; b++)
                for (int64_t w = 0; w < nw; w++) {
                    const uint32_t rword = rwords[(b * nw + w) * R + i];
                    if (rword)
                        coinc_row(C, a, rword, rneg[b * R + i], cwords + (b * nw + w) * C,
                                  cneg + b * C);
                }
        } else if (kind == 1) {
            const int32_t di = (int32_t)d[i];
            if (di)
                for (int64_t j = 0; j < C; j++)
                    a[j] += di * xi[j];
        } else if (kind == 2) {
            const int32_t *src = inc + i * C;
            for (int64_t j = 0; j < C; j++)
                a[j] += src[j];
        }
        if (apply)
            pulses += fn(C, a, gp + i * C, gm + i * C, (uint32_t)rw[i], cw,
                         fp ? fp + i * C : NULL, fm ? fm + i * C : NULL, steps, gauss, root, p);
    }
    free(cw);
    free(xi);
    return pulses;
}
