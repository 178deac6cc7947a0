/* tag.c: a test module for hot reload. It hands every record back with one
 * more field, "v" = VERSION (built twice, as tag1.wasm and tag2.wasm, with
 * -DVERSION='"1"' and '"2"'), so that each record says which version made
 * it. With -DFAIL_INIT its wasmtail_init refuses every config.
 */
#include <stdlib.h>

#include "wasmtail.h"

#ifndef VERSION
#define VERSION "0"
#endif

WASMTAIL_ABI_V1;

static char *in, *out;
static uint32_t in_cap, out_cap;
static const char key[] = "v", val[] = VERSION;

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

WASMTAIL_EXPORT("wasmtail_init") int32_t wt_init(uint32_t cfg, uint32_t len) {
#ifdef FAIL_INIT
    static const char msg[] = "tag: this build refuses every config";
    wt_log(WT_ERROR_LEVEL, msg, sizeof msg - 1);
    return WT_BAD_CONFIG;
#else
    return WT_OK;
#endif
}

WASMTAIL_EXPORT("wasmtail_process") int64_t wt_process(uint32_t count, uint32_t nbytes) {
    wt_header *h = (wt_header *)in;
    if (!grow(&out, &out_cap, wt_batch_size(count, h->nfields + count))) return -WT_ERROR;
    wt_record *rin = wt_records(in), *rout = wt_records(out);
    wt_field *fin = wt_fields(in);
    wt_field *fout = (wt_field *)((char *)out + sizeof(wt_header) + sizeof(wt_record) * count);
    uint32_t j = 0;
    for (uint32_t i = 0; i < count; i++) {
        rout[i] = rin[i];
        for (uint32_t k = 0; k < rin[i].nfields; k++) fout[j++] = *fin++;
        fout[j++] = wt_field_of(key, 1, val, sizeof val - 1);
        rout[i].nfields++;
    }
    wt_header *oh = (wt_header *)out;
    oh->count = count;
    oh->nfields = j;
    return wt_result(out, wt_batch_size(count, j));
}
