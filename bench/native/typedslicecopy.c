// What growing Go 1.5's h_allspans costs on this machine: the measurement behind
// config.py's cost_typedmemmove_ns (and a check of cost_page_fault_ns).
//
//   cc -O0 -o /tmp/typedslicecopy bench/native/typedslicecopy.c && /tmp/typedslicecopy
//
// recordspan (mheap.go at 500c88d4) grows the list of every span struct by 3/2 when it is full:
// sysAlloc a new array, copy(new, h_allspans), sysFree the old one, all under mheap_.lock.  The
// list is a []*mspan, so the compiler turns the copy into typedslicecopy (mbarrier.go), which with
// writeBarrierEnabled -- the scan, mark and mark termination phases, so every lock-in of the
// parent -- calls typedmemmove once per element: a memmove of 8 bytes, then heapBitsBulkBarrier,
// which finds the destination outside the arena (inheap) and off the current g's stack, and
// returns.  With the barrier off it is one memmove.
//
// This program runs that call chain on arrays of the sizes recordspan copies at the heap sizes
// where real Go's lock-ins ended (3.60 to 18.25 GiB of 8 KiB spans).  Each Go function is a
// non-inlined C function whose prologue does Go's stack check (load g, compare the stack pointer
// with its guard).  Compiled without optimisation it is nearest to Go 1.5's own code, whose
// arguments are passed in memory and whose closure (typedslicecopy's loop runs in a
// systemstack closure) reaches its captured variables through memory; -O2 gives a lower bound.
// The destination is prefaulted for the per-element figure; the page faults are timed apart.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct gstack { uintptr_t lo, hi, guard; } gstack;
typedef struct g { gstack stack; struct m *m; } g;
typedef struct m { g *curg; } m;
typedef struct gotype { uintptr_t size; uint8_t kind; } gotype;  // kind bit 0: kindNoPointers

static __thread g *tls_g;
static volatile uintptr_t arena_start = 0xc000000000ULL, arena_used = 0xc000000000ULL + (4ULL << 30);
static volatile int writeBarrierEnabled;
static volatile uintptr_t sink;

#define NOINLINE __attribute__((noinline))
#define STACKCHECK()                                                         \
	do {                                                                     \
		if ((uintptr_t)__builtin_frame_address(0) < tls_g->stack.guard)      \
			abort(); /* morestack */                                         \
	} while (0)

NOINLINE static void go_memmove(void *dst, const void *src, size_t n) {
	// runtime·memmove: assembly, no prologue; 8 bytes is one load and one store.
	if (n == 8) {
		*(uint64_t *)dst = *(const uint64_t *)src;
		return;
	}
	memmove(dst, src, n);
}

NOINLINE static int inheap(uintptr_t b) {
	STACKCHECK();
	return !(b == 0 || b < arena_start || b >= arena_used);
}

NOINLINE static void heapBitsBulkBarrier(uintptr_t p, uintptr_t size) {
	STACKCHECK();
	if ((p | size) & 7)
		abort();
	if (!writeBarrierEnabled)
		return;
	if (!inheap(p)) {
		g *gp = tls_g->m->curg;
		if (gp != NULL && gp->stack.lo <= p && p < gp->stack.hi)
			abort(); // gcUnwindBarriers: never here, the array is not on a stack
		return;
	}
}

NOINLINE static void typedmemmove(const gotype *typ, void *dst, const void *src) {
	STACKCHECK();
	go_memmove(dst, src, typ->size);
	if (typ->kind & 1)
		return;
	heapBitsBulkBarrier((uintptr_t)dst, typ->size);
}

NOINLINE static void typedslicecopy(const gotype *typ, char *dstp, char *srcp, long n) {
	STACKCHECK();
	if (!writeBarrierEnabled) {
		go_memmove(dstp, srcp, (size_t)n * typ->size);
		return;
	}
	for (long i = 0;;) {
		typedmemmove(typ, dstp, srcp);
		if (++i >= n)
			break;
		dstp += typ->size;
		srcp += typ->size;
	}
}

static double now_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *sys_alloc(size_t n) {
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

// One growth of a full list of `len` span pointers; returns the copy's ns per element and adds
// the page faults' and the sysFree's times to *fault_ms and *free_ms.
static double grow(long len, int wb, double *fault_ms, double *free_ms) {
	const gotype typ = {8, 0};
	uintptr_t *old = sys_alloc((size_t)len * 8);
	for (long i = 0; i < len; i++)
		old[i] = 0x7f0000000000ULL + (uintptr_t)i * 160;  // span structs live off the heap
	long cap = len * 3 / 2;
	uintptr_t *nw = sys_alloc((size_t)cap * 8);
	long touched = len + 1;  // the copy and the append
	double t0 = now_s();
	for (long i = 0; i < touched; i += 512)
		nw[i] = 0;  // first touch of each 4 KiB page
	double t1 = now_s();
	writeBarrierEnabled = wb;
	typedslicecopy(&typ, (char *)nw, (char *)old, len);
	double t2 = now_s();
	munmap(old, (size_t)len * 8);
	double t3 = now_s();
	sink += nw[len - 1];
	munmap(nw, (size_t)cap * 8);
	*fault_ms += (t1 - t0) * 1e3;
	*free_ms += (t3 - t2) * 1e3;
	return (t2 - t1) * 1e9 / (double)len;
}

int main(void) {
	static g g0;
	static m m0;
	char here;
	g0.stack.lo = (uintptr_t)&here - (1 << 20);
	g0.stack.hi = (uintptr_t)&here + 4096;
	g0.stack.guard = g0.stack.lo + 1024;
	g0.m = &m0;
	m0.curg = &g0;
	tls_g = &g0;

	// h_allspans' capacities: 8192 (64 KiB of pointers), then 3/2 each time.
	long caps[64];
	int ncap = 0;
	for (long c = 8192; c <= 3000000; c = c * 3 / 2)
		caps[ncap++] = c;
	printf("%9s %9s | %16s %16s | %10s %9s | %12s\n", "heap GiB", "spans", "copy ns/elem wb=1",
	       "wb=0", "faults ms", "ns/page", "sysFree ms");
	for (int i = 0; i < ncap; i++) {
		long len = caps[i];
		double gib = (double)len * 8192 / (double)(1UL << 30);
		if (gib < 3.5)
			continue;
		const int reps = 3;
		double on = 1e9, off = 1e9, fault = 0, freed = 0, f2 = 0, fr2 = 0;
		for (int r = 0; r < reps; r++) {
			double x = grow(len, 1, &fault, &freed);
			double y = grow(len, 0, &f2, &fr2);
			on = x < on ? x : on;
			off = y < off ? y : off;
		}
		long pages = (len + 1 + 511) / 512;
		printf("%9.2f %9ld | %16.2f %16.2f | %10.3f %9.0f | %12.3f\n", gib, len, on, off, fault / reps,
		       fault / reps * 1e6 / (double)pages, freed / reps);
	}
	return 0;
}
