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
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true";
}
