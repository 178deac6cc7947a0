/*
 * wasmtail.h: the wasmtail host ABI v1 for C (and Rust, Zig via their C
 * interop). The contract itself is hostabi/ABI.md; this header only names
 * it. Header-only; no libc needed beyond <stdint.h>.
 *
 *   #include "wasmtail.h"
 *   WASMTAIL_ABI_V1;
 *   WASMTAIL_EXPORT("wasmtail_buffer")  uint32_t my_buffer(uint32_t size);
 *   WASMTAIL_EXPORT("wasmtail_init")    int32_t  my_init(uint32_t cfg_ptr, uint32_t cfg_len);
 *   WASMTAIL_EXPORT("wasmtail_process") int64_t  my_process(uint32_t count, uint32_t nbytes);
 *
 * Build as a WASI reactor:
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c -o m.wasm m.c
 */
#ifndef WASMTAIL_H
#define WASMTAIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WASMTAIL_ABI_VERSION 1

/* Exports a function under name. */
#define WASMTAIL_EXPORT(name) __attribute__((export_name(name), visibility("default")))

/* The ABI v1 marker: a function the host never calls. Put it once at file scope. */
#define WASMTAIL_ABI_V1 \
    WASMTAIL_EXPORT("wasmtail_abi_v1") void wasmtail_abi_v1(void) {} \
    typedef int wasmtail_abi_v1_defined_

/* Result codes of wasmtail_init, and (negated) of wasmtail_process. */
enum {
    WT_OK = 0,
    WT_ERROR = 1,
    WT_BAD_CONFIG = 2,
    WT_BAD_INPUT = 3,
};

/* Log levels of wt_log. */
enum {
    WT_DEBUG = 0,
    WT_INFO = 1,
    WT_WARN = 2,
    WT_ERROR_LEVEL = 3,
};

/* Limits the host enforces (hostabi/abi.go). */
#define WT_MAX_FIELDS_PER_RECORD 1024
#define WT_MAX_KEY_LEN 256
#define WT_MAX_LOG_LEN 4096

/* A batch starts with a header, then `count` records, then `nfields`
 * fields; the input batch then has its key and value bytes. All
 * pointers are addresses in this module's memory. */
typedef struct {
    uint32_t count;   /* records */
    uint32_t nfields; /* fields, all records together */
} wt_header;

typedef struct {
    int64_t sec;      /* time: seconds since the epoch */
    int32_t nsec;     /* and nanoseconds, 0..999999999 */
    uint32_t nfields; /* this record's fields follow the previous records' */
} wt_record;

typedef struct {
    uint32_t key_ptr, key_len; /* key: 1..256 bytes, not NUL-terminated */
    uint32_t val_ptr, val_len; /* value: any bytes, not NUL-terminated */
} wt_field;

_Static_assert(sizeof(wt_header) == 8, "wt_header is 8 bytes");
_Static_assert(sizeof(wt_record) == 16, "wt_record is 16 bytes");
_Static_assert(sizeof(wt_field) == 16, "wt_field is 16 bytes");

/* The records and fields of a batch at p. */
static inline wt_record *wt_records(void *p) { return (wt_record *)((char *)p + sizeof(wt_header)); }
static inline wt_field *wt_fields(void *p) {
    return (wt_field *)((char *)p + sizeof(wt_header) + sizeof(wt_record) * ((wt_header *)p)->count);
}
/* Size in bytes of an output batch (header, records, fields). */
static inline uint32_t wt_batch_size(uint32_t count, uint32_t nfields) {
    return (uint32_t)(sizeof(wt_header) + sizeof(wt_record) * count + sizeof(wt_field) * nfields);
}
/* A field's key and value as pointers. */
static inline const char *wt_key(const wt_field *f) { return (const char *)(uintptr_t)f->key_ptr; }
static inline const char *wt_val(const wt_field *f) { return (const char *)(uintptr_t)f->val_ptr; }
/* A field pointing at key/value bytes in memory. */
static inline wt_field wt_field_of(const char *key, uint32_t key_len, const char *val, uint32_t val_len) {
    wt_field f = {(uint32_t)(uintptr_t)key, key_len, (uint32_t)(uintptr_t)val, val_len};
    return f;
}
/* The result of wasmtail_process for an output batch at out, len bytes. */
static inline int64_t wt_result(const void *out, uint32_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)out << 32) | len);
}

/* The host's log import: one line to the agent's log. At most 1024 calls
 * per call of an export (plus 2 per record), or the module is stopped. */
__attribute__((import_module("wasmtail"), import_name("log")))
void wt_log(int32_t level, const char *msg, uint32_t len);

#ifdef __cplusplus
}
#endif
#endif /* WASMTAIL_H */
