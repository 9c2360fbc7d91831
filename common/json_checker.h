// JsonChecker: the problem collector behind every JSON file the processes
// load (gateway and node configuration, the gateway's directory file).
//
// A loader checks the whole file and refuses it with EVERY problem named,
// one "<json path>: <problem>" per line, rather than stopping at the first.
// Values are only quoted through QuoteForMessage (printable ASCII, at most
// 80 characters), so a message never carries control characters.
//
// Thread safety: JsonChecker is not thread-safe (one per parse); the free
// functions are reentrant.
// Errors: Refusal gives INVALID_ARGUMENT; ReadConfigText NOT_FOUND or
// FAILED_PRECONDITION.
#ifndef SCHAKEL_COMMON_JSON_CHECKER_H_
#define SCHAKEL_COMMON_JSON_CHECKER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace schakel {

// Largest config (or directory) file ReadConfigText accepts by default.
inline constexpr size_t kMaxConfigBytes = 1 << 20;

// Collects "<json path>: <problem>" lines while checking a parsed JSON file.
class JsonChecker {
 public:
  using Json = nlohmann::json;

  void Problem(std::string_view path, std::string_view what);
  const std::vector<std::string>& problems() const { return problems_; }
  bool ok() const { return problems_.empty(); }

  // Parses `text` (comments allowed); nullopt after naming a syntax error
  // ("(json): not valid JSON at line L, column C").
  std::optional<Json> Parse(std::string_view text);
  // Parse, and the result must be a JSON object; nullopt after naming the
  // problem.
  std::optional<Json> ParseObject(std::string_view text);
  // Names the fields of `object` not in `allowed`.
  void NoUnknown(const Json& object, std::string_view prefix, const std::set<std::string>& allowed);
  // A non-empty string field; nullptr when missing (a problem when
  // `required`) or wrong.
  const std::string* String(const Json& object, std::string_view prefix, const std::string& key,
                            bool required = true);
  // A path field, resolved against `base`.
  void Path(const Json& object, std::string_view prefix, const std::string& key,
            const std::filesystem::path& base, std::filesystem::path& out);
  // An organisation id field (common/org_id.h).
  void OrgId(const Json& object, std::string_view prefix, const std::string& key, std::string& out,
             bool required = true);
  // An optional whole number in [min, max]; `out` keeps its default when
  // absent.
  void Integer(const Json& object, std::string_view prefix, const std::string& key, int64_t min,
               int64_t max, int64_t& out);
  // The same for a narrower integer type; [min, max] must fit in T.
  template <typename T>
  void Integer(const Json& object, std::string_view prefix, const std::string& key, int64_t min,
               int64_t max, T& out) {
    int64_t v = static_cast<int64_t>(out);
    Integer(object, prefix, key, min, max, v);
    out = static_cast<T>(v);
  }
  void Unsigned(const Json& object, std::string_view prefix, const std::string& key, uint64_t min,
                uint64_t max, uint64_t& out);
  // An optional boolean.
  void Bool(const Json& object, std::string_view prefix, const std::string& key, bool& out);
  // Names a problem at `path` unless `value` is "host:port" with a port
  // from 0 to 65535.
  void HostPort(std::string_view path, const std::string& value);

  // The required "tls" object of a process config, {"ca", "cert", "key"},
  // each a path resolved against `base`.
  void TlsSection(const Json& doc, const std::filesystem::path& base, std::filesystem::path& ca,
                  std::filesystem::path& cert, std::filesystem::path& key);

  // "<source>: <what> refused, N problem(s):\n<p1>\n<p2>..." as
  // INVALID_ARGUMENT.
  absl::Status Refusal(std::string_view source_name, std::string_view what) const;

 private:
  std::vector<std::string> problems_;
};

// `s` for a message: printable ASCII only, at most 80 characters.
std::string QuoteForMessage(std::string_view s);

// Reads a small text file (config, directory) whole. Errors: NOT_FOUND,
// FAILED_PRECONDITION (not a regular file, unreadable, larger than
// kMaxConfigBytes), each naming `what` and the path.
absl::StatusOr<std::string> ReadConfigText(const std::filesystem::path& path, std::string_view what);

}  // namespace schakel

#endif  // SCHAKEL_COMMON_JSON_CHECKER_H_
