// jemalloc's options for the servers (cmake/SchakelTargets.cmake,
// schakel_server_allocator). jemalloc reads this symbol at start-up; the
// MALLOC_CONF environment variable still overrides it.
//
// background_thread:true: jemalloc returns unused dirty pages to the
// system from its own thread, on time (dirty_decay_ms, 10 s). Without it
// an arena purges only when one of its threads allocates again, and gRPC's
// worker threads and RocksDB's flush thread come and go: the memory of a
// flushed memtable stayed resident in an idle arena. In the soak
// (docs/testing.md, "Faults under load") the gateway's live heap stayed at
// ~3.5 MB besides its memtable (jemalloc heap profile), but its VmRSS after
// each flush rose ~1.5 MB from one flush to the next; with background
// purging a 7-minute soak went from +8.5 % to +3.1 %.
//
// tcache_max:4096: each thread caches freed blocks of up to 4 KiB for its
// next allocations, not up to 32 KiB (jemalloc's default). A thread's cache
// is trimmed only when that thread allocates again, and a server keeps up
// to 16 idle gRPC threads (rpc/channel.h) that may not run for minutes:
// with 26 to 33 threads the gateway's caches held blocks of 8 to 32 KiB
// (gRPC's read buffers and message copies) that no live allocation used,
// and its memory rose ~0.5 MB a minute at 10 exchanges/s for as long as
// the soak ran (docs/testing.md, "Faults under load": +15.7 % in 12
// minutes while its live heap stayed at 4 to 8 MB). Blocks above 4 KiB
// now go back to their arena, where the background thread returns them.
// Measured 2026-11-25 (docs/testing.md): the gateway in a 7-minute soak
// +3.0 % instead of +8.5 %; single matches at 100/s p50 6.53 ms and 7.16 ms
// of the federation's CPU per match, against 6.79 ms and 7.27 ms without it
// (no thread cache at all: 7.07 ms and 7.70 ms).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,tcache_max:4096";
}
