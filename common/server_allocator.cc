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
// to 16 idle gRPC threads (rpc/channel.h) that may not run for minutes. In
// the soak (docs/testing.md, "Faults under load") the gateway's memory rose
// in steps, each when a partner hang made gRPC start threads for the
// blocked calls (26 -> 31 to 35 threads), while its live heap stayed at 4
// to 8 MB. Side by side in 12-minute runs the gateway grew +8.4 % with this
// setting against +15.7 % before it; with no thread cache at all +3.2 %,
// but single matches then cost 0.25 to 0.3 ms more at the p50 and 5 % more
// CPU (docs/performance.md), while this setting measured no cost.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,tcache_max:4096";
}
