// A requester finalising an answer whose evaluated elements and proof come
// from the fuzzer: never crashes, and accepts only the honest answer.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "crypto/pseudonym.h"

using namespace schakel::crypto;

namespace {
struct Fixture {
  oprf::PoprfServer server{oprf::PrivateKey::Generate()};
  MatchRequester requester = MatchRequester::Create("fuzz").value();
  std::vector<Bytes> inputs{Bytes{'a'}, Bytes{'b'}};
  std::vector<ByteView> views{inputs.begin(), inputs.end()};
  PendingMatch pending = requester.Blind(views).value();
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  // Layout: element 0 (32) | element 1 (32) | proof (rest).
  if (size < 64) return 0;
  std::vector<ByteView> evaluated{ByteView(data, 32), ByteView(data + 32, 32)};
  auto tags = f.requester.Finalize(f.pending, f.server.public_key(), evaluated, ByteView(data + 64, size - 64));
  // A forged proof would have to solve discrete logarithms: any success is a bug.
  if (tags.ok()) std::abort();
  if (tags.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  return 0;
}
