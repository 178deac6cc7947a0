/* nginx.c: the nginx "combined" access-line parser of nginx.go, in C.
 * Both must give identical records (examples/nginx tests).
 *
 *   clang --target=wasm32-wasi -O2 -msimd128 -mexec-model=reactor -I ../../../sdk/c -o nginx.wasm nginx.c
 *
 * Speed note: under the agent every loop iteration of a guest costs a
 * check that the batch's deadline has not passed, so scanning 16 bytes per
 * iteration (SIMD) instead of one makes this parser several times faster.
 */
#include <stdlib.h>
#include <string.h>
#include <wasm_simd128.h>

#include "wasmtail.h"

WASMTAIL_ABI_V1;

static const char *const keys[8] = {"remote_addr", "remote_user", "time_local", "request",
                                    "status", "body_bytes_sent", "http_referer", "http_user_agent"};
static uint32_t key_lens[8];

static char *in;        /* the host's buffer */
static uint32_t in_cap;
static char *out;       /* the output batch */
static uint32_t out_cap;

WASMTAIL_EXPORT("wasmtail_buffer") uint32_t wt_buffer(uint32_t size) {
    if (size > in_cap) {
        free(in);
        in = aligned_alloc(8, (size + 7) & ~7u);
        in_cap = in ? size : 0;
    }
    return (uint32_t)(uintptr_t)in;
}

WASMTAIL_EXPORT("wasmtail_init") int32_t wt_init(uint32_t cfg, uint32_t len) {
    for (int i = 0; i < 8; i++) key_lens[i] = (uint32_t)strlen(keys[i]);
    return WT_OK;
}

typedef struct { const char *p; uint32_t n; } span;

static const char *line_start; /* of the line being parsed */

/* find returns the first c in [p, end), 16 bytes per step, or 0. Most
 * tokens are shorter than 16 bytes, so the first step is peeled off the
 * loop: a loop costs a deadline check on entry and per iteration. */
static const char *find(const char *p, const char *end, char c) {
    v128_t needle = wasm_i8x16_splat(c);
    if (end - p >= 16) {
        uint32_t m = (uint32_t)wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(p), needle));
        if (m) return p + __builtin_ctz(m);
        p += 16;
        for (; end - p >= 16; p += 16) {
            m = (uint32_t)wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(p), needle));
            if (m) return p + __builtin_ctz(m);
        }
    }
    if (p == end) return 0;
    if (end - line_start >= 16) { /* the last 16 bytes of the line, minus those before p */
        const char *q = end - 16;
        uint32_t m = (uint32_t)wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(q), needle));
        m &= ~0u << (p - q);
        return m ? q + __builtin_ctz(m) : 0;
    }
    return memchr(p, c, (size_t)(end - p));
}

/* tok cuts the text before the next stop byte: [*p, stop) */
static int tok(const char **p, const char *end, char stop, span *s) {
    const char *q = find(*p, end, stop);
    if (!q) return 0;
    s->p = *p;
    s->n = (uint32_t)(q - *p);
    *p = q + 1;
    return 1;
}

/* parse returns 8, 6 or 0 like nginx.Parse. */
static int parse(const char *p, const char *end, span v[8]) {
    span ident;
    line_start = p;
    if (!tok(&p, end, ' ', &v[0]) || v[0].n == 0) return 0;
    if (!tok(&p, end, ' ', &ident)) return 0;
    if (!tok(&p, end, ' ', &v[1])) return 0;
    if (p == end || *p != '[') return 0;
    p++;
    if (!tok(&p, end, ']', &v[2])) return 0;
    if (end - p < 2 || p[0] != ' ' || p[1] != '"') return 0;
    p += 2;
    if (!tok(&p, end, '"', &v[3])) return 0;
    if (p == end || *p != ' ') return 0;
    p++;
    if (!tok(&p, end, ' ', &v[4]) || v[4].n == 0) return 0;
    const char *sp = find(p, end, ' ');
    v[5].p = p;
    v[5].n = (uint32_t)((sp ? sp : end) - p);
    p = sp ? sp : end;
    if (end - p < 2 || p[0] != ' ' || p[1] != '"') return 6;
    p += 2;
    if (!tok(&p, end, '"', &v[6])) return 6;
    if (end - p < 2 || p[0] != ' ' || p[1] != '"') return 6;
    p += 2;
    if (!tok(&p, end, '"', &v[7])) return 6;
    return 8;
}

/* is_content compares with two loads: memcmp would be a loop. */
static int is_content(const wt_field *f) {
    uint32_t a, b;
    if (f->key_len != 7) return 0;
    memcpy(&a, wt_key(f), 4);
    memcpy(&b, wt_key(f) + 3, 4);
    return a == 0x746e6f63u /* "cont" */ && b == 0x746e6574u /* "tent" */;
}

WASMTAIL_EXPORT("wasmtail_process") int64_t wt_process(uint32_t count, uint32_t nbytes) {
    wt_header *h = (wt_header *)in;
    wt_record *rin = wt_records(in);
    wt_field *fin = wt_fields(in);
    uint32_t need = wt_batch_size(count, h->nfields + 8 * count);
    if (need > out_cap) {
        free(out);
        out = aligned_alloc(8, need);
        if (!out) {
            out_cap = 0;
            static const char msg[] = "out of memory";
            wt_log(WT_ERROR_LEVEL, msg, sizeof msg - 1);
            return -WT_ERROR;
        }
        out_cap = need;
    }
    /* Records first, then fields: count the fields as we go, in a second
     * array, and move them into place at the end. */
    wt_record *rout = wt_records(out);
    wt_field *fout = (wt_field *)((char *)out + sizeof(wt_header) + sizeof(wt_record) * count);
    uint32_t nf = 0;
    span v[8];
    for (uint32_t i = 0; i < count; i++) {
        wt_record r = rin[i];
        const wt_field *fs = fin;
        fin += r.nfields;
        const wt_field *content = 0;
        if (r.nfields == 1) { /* the common case, without a loop */
            if (is_content(fs)) content = fs;
        } else {
            for (uint32_t k = 0; k < r.nfields; k++)
                if (is_content(&fs[k])) { content = &fs[k]; break; }
        }
        int n = content ? parse(wt_val(content), wt_val(content) + content->val_len, v) : 0;
        uint32_t start = nf;
        if (n == 0) {
            for (uint32_t k = 0; k < r.nfields; k++) fout[nf++] = fs[k];
        } else {
            if (r.nfields > 1)
                for (uint32_t k = 0; k < r.nfields; k++)
                    if (&fs[k] != content) fout[nf++] = fs[k];
            wt_field *o = fout + nf; /* unrolled: n is 6 or 8 */
            o[0] = wt_field_of(keys[0], key_lens[0], v[0].p, v[0].n);
            o[1] = wt_field_of(keys[1], key_lens[1], v[1].p, v[1].n);
            o[2] = wt_field_of(keys[2], key_lens[2], v[2].p, v[2].n);
            o[3] = wt_field_of(keys[3], key_lens[3], v[3].p, v[3].n);
            o[4] = wt_field_of(keys[4], key_lens[4], v[4].p, v[4].n);
            o[5] = wt_field_of(keys[5], key_lens[5], v[5].p, v[5].n);
            if (n == 8) {
                o[6] = wt_field_of(keys[6], key_lens[6], v[6].p, v[6].n);
                o[7] = wt_field_of(keys[7], key_lens[7], v[7].p, v[7].n);
            }
            nf += (uint32_t)n;
        }
        rout[i] = r;
        rout[i].nfields = nf - start;
    }
    wt_header *oh = (wt_header *)out;
    oh->count = count;
    oh->nfields = nf;
    return wt_result(out, wt_batch_size(count, nf));
}
