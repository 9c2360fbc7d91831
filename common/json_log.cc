#include "common/json_log.h"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>

namespace schakel {
namespace {

// time and level come from spdlog; the rest of the object is the message.
constexpr char kPattern[] = R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})";

std::shared_ptr<spdlog::logger> MakeLogger(std::string_view component, spdlog::sink_ptr sink) {
  auto logger = std::make_shared<spdlog::logger>(std::string(component), std::move(sink));
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  return logger;
}

spdlog::level::level_enum ToSpdlog(JsonLog::Level level) {
  switch (level) {
    case JsonLog::Level::kInfo:
      return spdlog::level::info;
    case JsonLog::Level::kWarning:
      return spdlog::level::warn;
    case JsonLog::Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

JsonLog::JsonLog(std::string component)
    : component_(std::move(component)),
      logger_(MakeLogger(component_, std::make_shared<spdlog::sinks::stderr_sink_mt>())) {}

JsonLog::JsonLog(std::string component, std::ostream& out)
    : component_(std::move(component)),
      logger_(MakeLogger(component_, std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true))) {}

JsonLog::~JsonLog() = default;

void JsonLog::Event(Level level, std::string_view event, const nlohmann::json& fields) const {
  nlohmann::json rest = nlohmann::json::object();
  rest["component"] = component_;
  rest["event"] = std::string(event);
  rest["fields"] = fields.is_object() ? fields : nlohmann::json::object();
  const std::string text =
      rest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Drop the outer braces: the pattern supplies them around time and level.
  logger_->log(ToSpdlog(level), "{}", std::string_view(text).substr(1, text.size() - 2));
}

void JsonLog::Note(std::string_view line) const {
  constexpr std::array<std::string_view, 5> kTroubled = {"refused", "failed", "cannot", "error",
                                                         "not serving"};
  const bool troubled = std::any_of(kTroubled.begin(), kTroubled.end(), [&](std::string_view w) {
    return line.find(w) != std::string_view::npos;
  });
  Event(troubled ? Level::kWarning : Level::kInfo, "note",
        nlohmann::json{{"message", std::string(line)}});
}

}  // namespace schakel
