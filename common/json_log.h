// Structured logs of schakel-gateway and schakel-node: one JSON object per
// line on stderr,
//   {"time":"2025-03-01T12:00:00.123Z","level":"info","component":"gateway",
//    "event":"policy_reloaded","fields":{"version":"2025.3+4f1c9a0b"}}
// written through spdlog (thread-safe, flushed per line).
//
// Events are named by the caller; the one-line notes the servers' parts
// already produce (Options::log_line) become event "note" with the line as
// fields.message, at level warning when it reports a refusal or a failure.
// What goes in is the caller's responsibility: never an identifier of a
// person, a secret, or signal content (the parts' notes hold none).
//
// Thread safety: every method may be called from any thread.
// Errors: none; text that is not UTF-8 is logged with U+FFFD in its place.
#ifndef SCHAKEL_COMMON_JSON_LOG_H_
#define SCHAKEL_COMMON_JSON_LOG_H_

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace spdlog {
class logger;
}  // namespace spdlog

namespace schakel {

class JsonLog {
 public:
  enum class Level { kInfo, kWarning, kError };

  // Logs to stderr as `component` ("gateway", "node").
  explicit JsonLog(std::string component);
  // Logs to `out` (tests); `out` must outlive this log.
  JsonLog(std::string component, std::ostream& out);
  ~JsonLog();
  JsonLog(const JsonLog&) = delete;
  JsonLog& operator=(const JsonLog&) = delete;

  // One event: `event` in snake_case, `fields` a JSON object (or null).
  void Event(Level level, std::string_view event, const nlohmann::json& fields = nullptr) const;
  // A part's note (see the top of this file).
  void Note(std::string_view line) const;

 private:
  const std::string component_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace schakel

#endif  // SCHAKEL_COMMON_JSON_LOG_H_
