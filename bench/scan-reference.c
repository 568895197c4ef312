/*
 * The C reference for the scan kernels (bench/kernels.ts): the same phase-1 and phase-2 loops as
 * src/scan/kernels.ts, scalar, over the same bytes. The tables' buffer is read from a file that the bench dumps;
 * every column's byte offset comes on the command line from the layout map (src/tables/layout.ts), so this file
 * holds no offset. Same float operations in the same order (built with -ffp-contract=off: no fused multiply-add),
 * so after a pass the buffer is byte-identical to the JavaScript kernels' (the bench and test/scan-kernels.test.ts
 * compare it).
 *
 *   cc -O3 -march=native -ffp-contract=off -pthread -o scan-reference bench/scan-reference.c
 *   scan-reference FILE key=value...          (keys: see LAYOUT_KEYS)
 *
 * Then one command per stdin line, one answer per stdout line:
 *   p1 THREADS    phase 1 over every market's used slots (each thread takes its share of every market): nanoseconds
 *   p2 THREADS    reset CandidateCount, phase 2 over accounts [0, accounts) (contiguous shares): nanoseconds
 *   dump FILE     write the buffer to FILE: "ok"
 *   quit
 * The time is the pass alone, from before the threads start to after they are joined (CLOCK_MONOTONIC).
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 8

static const char *LAYOUT_KEYS[] = {
    "markets", "accounts", "marginCallHealth", "markPrice", "tierCount", "tierUpperBound", "maintenanceFraction",
    "maintenanceAmount", "maxTiers", "positionStart", "positionCount", "size", "entryPrice", "isolatedCollateral",
    "flags", "term", "termPnl", "termMaintenance", "termSlot", "termKind", "termRows", "positionsPerAccount",
    "collateral", "accountPositionCount", "scanEquity", "scanMaintenance", "candidateRef", "candidateLevel",
    "candidateRows", "candidateCount",
};
enum {
    K_MARKETS, K_ACCOUNTS, K_HEALTH, K_MARK, K_TIER_COUNT, K_TIER_UB, K_MM_FRACTION, K_MM_AMOUNT, K_MAX_TIERS,
    K_POSITION_START, K_POSITION_COUNT, K_SIZE, K_ENTRY, K_ISO, K_FLAGS, K_TERM, K_T_PNL, K_T_MM, K_T_SLOT,
    K_T_KIND, K_T_ROWS, K_PER_ACCOUNT, K_COLLATERAL, K_A_COUNT, K_SCAN_EQUITY, K_SCAN_MM, K_C_REF, K_C_LEVEL,
    K_C_ROWS, K_C_COUNT, K_COUNT
};
static double key[K_COUNT];
static int have[K_COUNT];

static uint8_t *b;
#define F64(k) ((double *)(b + (size_t)key[k]))
#define U32(k) ((uint32_t *)(b + (size_t)key[k]))
#define U8(k) (b + (size_t)key[k])

static void write_candidate(uint32_t ref, uint8_t level) {
    /* As reserveCandidate(): Atomics.add, a sequentially consistent read-modify-write. */
    int32_t row = __atomic_fetch_add((int32_t *)U8(K_C_COUNT), 1, __ATOMIC_SEQ_CST);
    if ((uint32_t)row < (uint32_t)key[K_C_ROWS]) {
        U32(K_C_REF)[row] = ref;
        U8(K_C_LEVEL)[row] = level;
    }
}

static inline int is_margin_call(double equity, double mm, double h) { return mm > 0 && equity < mm * h; }
static inline uint8_t level_of(double equity, double mm) { return mm > 0 && equity < mm ? 2 : 1; }

/* scanMarketSlice */
static void scan_market_slice(uint32_t m, uint32_t from, uint32_t to) {
    const double *size = F64(K_SIZE), *entry = F64(K_ENTRY), *iso = F64(K_ISO);
    const uint32_t *flags = U32(K_FLAGS), *term = U32(K_TERM);
    double *pnl = F64(K_T_PNL), *maintenance = F64(K_T_MM);
    uint8_t *kind = U8(K_T_KIND);
    const double *ub = F64(K_TIER_UB), *fraction = F64(K_MM_FRACTION), *amount = F64(K_MM_AMOUNT);
    const uint32_t rows = (uint32_t)key[K_T_ROWS];
    const double mark = F64(K_MARK)[m];
    const int64_t base = (int64_t)m * (int64_t)key[K_MAX_TIERS];
    const int64_t last = base + (int64_t)U32(K_TIER_COUNT)[m] - 1;
    for (uint32_t s = from; s < to; s++) {
        const uint32_t f = flags[s];
        const uint32_t k = term[s];
        if (k >= rows) continue; /* a typed array ignores a store out of its bounds */
        kind[k] = (uint8_t)f;
        if ((f & 1) == 0) {
            pnl[k] = 0;
            maintenance[k] = 0;
            continue;
        }
        const double q = size[s];
        const double u = q * (mark - entry[s]);
        pnl[k] = (f & 2) == 0 ? u : iso[s] + u;
        const double n = fabs(q) * mark;
        int64_t t = base;
        while (t < last && n > ub[t]) t++;
        maintenance[k] = n * fraction[t] - amount[t];
    }
}

static void emit_isolated(uint32_t first, uint32_t end, double h) {
    const double *pnl = F64(K_T_PNL), *maintenance = F64(K_T_MM);
    const uint8_t *kind = U8(K_T_KIND);
    const uint32_t *slot = U32(K_T_SLOT);
    for (uint32_t k = first; k < end; k++) {
        if ((kind[k] & 3) != 3) continue;
        if (is_margin_call(pnl[k], maintenance[k], h)) write_candidate(slot[k] | 0x80000000u, level_of(pnl[k], maintenance[k]));
    }
}

/* assembleAccounts */
static void assemble_accounts(uint32_t from, uint32_t to, double h) {
    const double *collateral = F64(K_COLLATERAL), *pnl = F64(K_T_PNL), *maintenance = F64(K_T_MM);
    const uint32_t *count = U32(K_A_COUNT);
    const uint8_t *kind = U8(K_T_KIND);
    double *scan_equity = F64(K_SCAN_EQUITY), *scan_mm = F64(K_SCAN_MM);
    const uint32_t per = (uint32_t)key[K_PER_ACCOUNT];
    for (uint32_t a = from; a < to; a++) {
        const uint32_t first = a * per;
        const uint32_t end = first + count[a];
        double sum_pnl = 0, mm = 0;
        int isolated_call = 0;
        for (uint32_t k = first; k < end; k++) {
            const unsigned f = kind[k] & 3;
            if (f == 1) {
                sum_pnl += pnl[k];
                mm += maintenance[k];
            } else if (f == 3 && is_margin_call(pnl[k], maintenance[k], h)) {
                isolated_call = 1;
            }
        }
        if (isolated_call) emit_isolated(first, end, h);
        const double equity = collateral[a] + sum_pnl;
        scan_equity[a] = equity;
        scan_mm[a] = mm;
        if (is_margin_call(equity, mm, h)) write_candidate(a, level_of(equity, mm));
    }
}

struct share {
    int phase, index, threads;
};

static void *run_share(void *arg) {
    const struct share *sh = arg;
    if (sh->phase == 1) {
        const uint32_t *start = U32(K_POSITION_START), *used = U32(K_POSITION_COUNT);
        for (uint32_t m = 0; m < (uint32_t)key[K_MARKETS]; m++) {
            const uint64_t n = used[m];
            scan_market_slice(m, start[m] + (uint32_t)(n * sh->index / sh->threads),
                              start[m] + (uint32_t)(n * (sh->index + 1) / sh->threads));
        }
    } else {
        const uint64_t n = (uint64_t)key[K_ACCOUNTS];
        assemble_accounts((uint32_t)(n * sh->index / sh->threads), (uint32_t)(n * (sh->index + 1) / sh->threads),
                          key[K_HEALTH]);
    }
    return NULL;
}

static long long pass(int phase, int threads) {
    struct timespec t0, t1;
    pthread_t tid[MAX_THREADS];
    struct share sh[MAX_THREADS];
    if (phase == 2) __atomic_store_n((int32_t *)U8(K_C_COUNT), 0, __ATOMIC_SEQ_CST); /* resetCandidates */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++) {
        sh[i] = (struct share){phase, i, threads};
        if (i > 0) pthread_create(&tid[i], NULL, run_share, &sh[i]);
    }
    run_share(&sh[0]);
    for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: scan-reference FILE key=value...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        int found = 0;
        for (int k = 0; eq != NULL && k < K_COUNT; k++) {
            if (strlen(LAYOUT_KEYS[k]) == (size_t)(eq - argv[i]) && strncmp(argv[i], LAYOUT_KEYS[k], eq - argv[i]) == 0) {
                key[k] = strtod(eq + 1, NULL);
                have[k] = found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "scan-reference: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (!have[k]) {
            fprintf(stderr, "scan-reference: missing %s=\n", LAYOUT_KEYS[k]);
            return 2;
        }
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror("scan-reference: open");
        return 1;
    }
    fseek(in, 0, SEEK_END);
    const long length = ftell(in);
    fseek(in, 0, SEEK_SET);
    if (posix_memalign((void **)&b, 64, (size_t)length) != 0 || fread(b, 1, (size_t)length, in) != (size_t)length) {
        fprintf(stderr, "scan-reference: cannot read %ld bytes\n", length);
        return 1;
    }
    fclose(in);
    char line[4096];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready %ld\n", length);
    while (fgets(line, sizeof line, stdin) != NULL) {
        int threads = 1;
        char path[4000];
        if (sscanf(line, "p1 %d", &threads) == 1 || sscanf(line, "p2 %d", &threads) == 1) {
            if (threads < 1 || threads > MAX_THREADS) threads = 1;
            printf("%lld\n", pass(line[1] == '1' ? 1 : 2, threads));
        } else if (sscanf(line, "dump %3999s", path) == 1) {
            FILE *out = fopen(path, "wb");
            const int ok = out != NULL && fwrite(b, 1, (size_t)length, out) == (size_t)length;
            if (out != NULL) fclose(out);
            printf(ok ? "ok\n" : "error\n");
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("error\n");
        }
    }
    free(b);
    return 0;
}
