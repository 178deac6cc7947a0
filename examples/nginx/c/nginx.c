/* nginx.c: the nginx "combined" access-line parser of nginx.go, in C.
 * Both must give identical records (examples/nginx tests).
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I ../../../sdk/c -o nginx.wasm nginx.c
 */
#include <stdlib.h>
#include <string.h>

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

/* tok cuts the text before the next stop byte: [*p, stop) */
static int tok(const char **p, const char *end, char stop, span *s) {
    const char *q = memchr(*p, stop, (size_t)(end - *p));
    if (!q) return 0;
    s->p = *p;
    s->n = (uint32_t)(q - *p);
    *p = q + 1;
    return 1;
}

/* parse returns 8, 6 or 0 like nginx.Parse. */
static int parse(const char *p, const char *end, span v[8]) {
    span ident;
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
    const char *sp = memchr(p, ' ', (size_t)(end - p));
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

static int is_content(const wt_field *f) {
    return f->key_len == 7 && memcmp(wt_key(f), "content", 7) == 0;
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
        for (uint32_t k = 0; k < r.nfields; k++)
            if (is_content(&fs[k])) { content = &fs[k]; break; }
        int n = content ? parse(wt_val(content), wt_val(content) + content->val_len, v) : 0;
        uint32_t start = nf;
        if (n == 0) {
            for (uint32_t k = 0; k < r.nfields; k++) fout[nf++] = fs[k];
        } else {
            for (uint32_t k = 0; k < r.nfields; k++)
                if (&fs[k] != content) fout[nf++] = fs[k];
            for (int k = 0; k < n; k++) fout[nf++] = wt_field_of(keys[k], key_lens[k], v[k].p, v[k].n);
        }
        rout[i] = r;
        rout[i].nfields = nf - start;
    }
    wt_header *oh = (wt_header *)out;
    oh->count = count;
    oh->nfields = nf;
    return wt_result(out, wt_batch_size(count, nf));
}
