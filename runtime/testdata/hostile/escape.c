/* hostile/escape: tries to read a file and the environment, and to print
 * what it found. The sandbox has neither, so it finds nothing, says so on
 * stdout (which goes to the agent's log) and traps. Were anything found,
 * it would log "ESCAPED" with the data.
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I ../../../sdk/c -o escape.wasm escape.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmtail.h"

WASMTAIL_ABI_V1;

extern char **environ;
static _Alignas(8) char buf[1 << 16];

WASMTAIL_EXPORT("wasmtail_buffer") uint32_t wt_buffer(uint32_t size) {
    return size <= sizeof buf ? (uint32_t)(uintptr_t)buf : 0;
}
WASMTAIL_EXPORT("wasmtail_init") int32_t wt_init(uint32_t p, uint32_t n) { return WT_OK; }

static void say(const char *s) { wt_log(WT_ERROR_LEVEL, s, (uint32_t)strlen(s)); }

WASMTAIL_EXPORT("wasmtail_process") int64_t wt_process(uint32_t count, uint32_t nbytes) {
    char line[256];
    FILE *f = fopen("/etc/passwd", "r");
    if (f) {
        snprintf(line, sizeof line, "ESCAPED: read /etc/passwd: %s", fgets(line + 200, 50, f) ? line + 200 : "");
        say(line);
    } else {
        printf("open /etc/passwd: %s\n", strerror(errno));
    }
    const char *home = getenv("HOME");
    int nenv = 0;
    for (char **e = environ; e && *e; e++) nenv++;
    if (home || nenv) {
        snprintf(line, sizeof line, "ESCAPED: %d environment variables, HOME=%s", nenv, home ? home : "");
        say(line);
    } else {
        printf("environment: empty\n");
    }
    fflush(stdout);
    __builtin_trap();
}
