/* filter.c: an example wasmtail filter in C.
 *
 *   - drops debug lines: lines with the word "debug" (any case, as a whole
 *     word: level=debug, [DEBUG], "level":"Debug") in their first 100 bytes;
 *   - masks e-mail addresses as [email] and phone numbers as [phone]
 *     (+ and 8 to 15 digits: +1 555 123 4567, +86-138-0013-8000;
 *     (555) 123-4567 and 555-123-4567; 11-digit mobiles like 13800138000).
 *
 * Every other field of a record is kept. Lines with nothing to mask are
 * handed back as slices of the input, so the host copies nothing.
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I ../../sdk/c -o filter.wasm filter.c
 */
#include <stdlib.h>
#include <string.h>

#include "wasmtail.h"

WASMTAIL_ABI_V1;

static char *in;
static uint32_t in_cap;
static char *out;   /* output batch */
static uint32_t out_cap;
static char *arena; /* masked lines of the current batch */
static uint32_t arena_cap, arena_len;

static void *grow(char **p, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return *p;
    free(*p);
    *p = aligned_alloc(8, (need + 7) & ~7u);
    *cap = *p ? need : 0;
    return *p;
}

WASMTAIL_EXPORT("wasmtail_buffer") uint32_t wt_buffer(uint32_t size) {
    return (uint32_t)(uintptr_t)grow(&in, &in_cap, size);
}

WASMTAIL_EXPORT("wasmtail_init") int32_t wt_init(uint32_t cfg, uint32_t len) { return WT_OK; }

static int alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int is_debug(const char *s, uint32_t n) {
    if (n > 100) n = 100;
    for (uint32_t i = 0; i + 5 <= n; i++) {
        if (lower(s[i]) == 'd' && lower(s[i + 1]) == 'e' && lower(s[i + 2]) == 'b' &&
            lower(s[i + 3]) == 'u' && lower(s[i + 4]) == 'g' && (i == 0 || !alnum(s[i - 1])) &&
            (i + 5 == n || !alnum(s[i + 5])))
            return 1;
    }
    return 0;
}

static int local_char(char c) { return alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
static int domain_char(char c) { return alnum(c) || c == '.' || c == '-'; }

/* email: s[at] is '@'; returns the span [*b, *e) or 0. */
static int email_at(const char *s, uint32_t n, uint32_t at, uint32_t *b, uint32_t *e) {
    uint32_t i = at, j = at + 1;
    while (i > 0 && local_char(s[i - 1])) i--;
    while (j < n && domain_char(s[j])) j++;
    while (j > at + 1 && (s[j - 1] == '.' || s[j - 1] == '-')) j--; /* "a@b.com." ends a sentence */
    if (i == at || j == at + 1) return 0;
    const char *dot = memchr(s + at + 1, '.', j - at - 1);
    if (!dot || dot == s + at + 1 || dot == s + j - 1) return 0;
    *b = i;
    *e = j;
    return 1;
}

/* phone at s[i] (a word start): returns the end, or 0. */
static uint32_t phone_at(const char *s, uint32_t n, uint32_t i) {
    uint32_t j = i, digits = 0;
    if (s[i] == '+') { /* international: + then 8..15 digits, single ' ' or '-' between groups */
        j++;
        while (j < n) {
            if (digit(s[j])) { digits++; j++; continue; }
            if ((s[j] == ' ' || s[j] == '-') && j + 1 < n && digit(s[j + 1]) && digit(s[j - 1])) { j++; continue; }
            break;
        }
        return digits >= 8 && digits <= 15 && (j == n || !alnum(s[j])) ? j : 0;
    }
    /* (ddd) ddd-dddd, (ddd)ddd-dddd, ddd-ddd-dddd, ddd ddd dddd */
    static const char *const pats[] = {"(ddd) ddd-dddd", "(ddd)ddd-dddd", "ddd-ddd-dddd", "ddd ddd dddd", "1ddddddddddd"};
    for (unsigned p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        const char *q = pats[p];
        uint32_t k = i;
        if (p == 4) q = "ddddddddddd"; /* 11-digit mobile, starting with 1 */
        for (; *q && k < n; q++, k++) {
            if (*q == 'd' ? !digit(s[k]) : s[k] != *q) break;
        }
        if (*q) continue;
        if (p == 4 && s[i] != '1') continue;
        if (k < n && (alnum(s[k]) || (s[k] == '-' && k + 1 < n && digit(s[k + 1])))) continue;
        return k;
    }
    return 0;
}

/* mask appends the masked line to the arena; returns 0 when unchanged. */
static int mask(const char *s, uint32_t n, const char **res, uint32_t *res_n) {
    char *o = arena + arena_len;
    uint32_t w = 0, copied = 0, changed = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b, e;
        const char *rep = 0;
        if (s[i] == '@' && email_at(s, n, i, &b, &e) && b >= copied) {
            rep = "[email]";
        } else if ((s[i] == '+' || s[i] == '(' || digit(s[i])) && (i == 0 || !alnum(s[i - 1])) &&
                   (i == 0 || s[i - 1] != '-') && (e = phone_at(s, n, i)) != 0) {
            b = i;
            rep = "[phone]";
        }
        if (!rep) continue;
        memcpy(o + w, s + copied, b - copied);
        w += b - copied;
        memcpy(o + w, rep, 7);
        w += 7;
        copied = e;
        i = e - 1;
        changed = 1;
    }
    if (!changed) return 0;
    memcpy(o + w, s + copied, n - copied);
    w += n - copied;
    *res = o;
    *res_n = w;
    arena_len += w;
    return 1;
}

WASMTAIL_EXPORT("wasmtail_process") int64_t wt_process(uint32_t count, uint32_t nbytes) {
    wt_header *h = (wt_header *)in;
    wt_record *rin = wt_records(in);
    wt_field *fin = wt_fields(in);
    /* A masked value is at most 7/5 of its input ("a@b.c" -> "[email]"). */
    if (!grow(&out, &out_cap, wt_batch_size(count, h->nfields)) || !grow(&arena, &arena_cap, nbytes * 2 + 64)) {
        static const char msg[] = "filter: out of memory";
        wt_log(WT_ERROR_LEVEL, msg, sizeof msg - 1);
        return -WT_ERROR;
    }
    arena_len = 0;
    wt_record *rout = wt_records(out);
    uint32_t kept = 0, nf = 0;
    for (uint32_t i = 0; i < count; i++) { /* first pass: which records stay */
        const wt_field *fs = fin;
        fin += rin[i].nfields;
        int drop = 0;
        for (uint32_t k = 0; k < rin[i].nfields; k++)
            if (fs[k].key_len == 7 && memcmp(wt_key(&fs[k]), "content", 7) == 0 && is_debug(wt_val(&fs[k]), fs[k].val_len))
                drop = 1;
        if (drop) {
            rin[i].nfields |= 0x80000000u; /* mark: the input is ours to scribble on */
            continue;
        }
        rout[kept++] = rin[i];
        nf += rin[i].nfields;
    }
    wt_field *fout = (wt_field *)((char *)out + sizeof(wt_header) + sizeof(wt_record) * kept);
    fin = wt_fields(in);
    uint32_t j = 0;
    for (uint32_t i = 0; i < count; i++) { /* second pass: copy and mask the fields */
        uint32_t nfi = rin[i].nfields & 0x7fffffffu;
        if (rin[i].nfields & 0x80000000u) {
            fin += nfi;
            continue;
        }
        for (uint32_t k = 0; k < nfi; k++, fin++) {
            wt_field f = *fin;
            const char *v;
            uint32_t vn;
            if (f.key_len == 7 && memcmp(wt_key(&f), "content", 7) == 0 && mask(wt_val(&f), f.val_len, &v, &vn))
                f = wt_field_of(wt_key(&f), f.key_len, v, vn);
            fout[j++] = f;
        }
    }
    wt_header *oh = (wt_header *)out;
    oh->count = kept;
    oh->nfields = nf;
    return wt_result(out, wt_batch_size(kept, nf));
}
