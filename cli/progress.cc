#include "cli/progress.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"

namespace schakel::cli {
namespace {

constexpr int kBarWidth = 30;

std::chrono::milliseconds DefaultInterval(Progress::Mode mode) {
  return mode == Progress::Mode::kBar ? std::chrono::milliseconds(100)
                                      : std::chrono::milliseconds(1000);
}

}  // namespace

Progress::Mode Progress::ModeFor(const Environment& environment, bool lines_requested) {
  if (environment.err_is_terminal) return Mode::kBar;
  return lines_requested ? Mode::kLines : Mode::kNone;
}

Progress::Progress(std::ostream& err, Mode mode, std::chrono::milliseconds interval)
    : err_(err), mode_(mode), interval_(interval) {}

Progress::Progress(std::ostream& err, Mode mode) : Progress(err, mode, DefaultInterval(mode)) {}

void Progress::Update(double fraction, std::string_view text) {
  if (mode_ == Mode::kNone) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < interval_) return;
  last_ = now;
  shown_ = true;
  const bool known = fraction >= 0;
  // A bar never goes back: a later, lower estimate shows the highest so far.
  fraction = std::max(std::clamp(fraction, 0.0, 1.0), highest_);
  if (known) highest_ = fraction;
  const int percent = static_cast<int>(std::floor(fraction * 100));
  if (mode_ == Mode::kLines) {
    err_ << "progress: " << (known ? StrCat(percent, "% ") : std::string()) << text << "\n";
    err_.flush();
    return;
  }
  std::string line = "\r";
  if (known) {
    const int filled = static_cast<int>(std::floor(fraction * kBarWidth));
    line += StrCat("[", std::string(static_cast<size_t>(filled), '#'),
                   std::string(static_cast<size_t>(kBarWidth - filled), '.'), "] ",
                   fmt::format("{:3d}", percent), "%  ");
  }
  line += text;
  const size_t width = line.size();
  if (width < last_width_) line += std::string(last_width_ - width, ' ');
  last_width_ = width;
  err_ << line;
  err_.flush();
}

void Progress::Done() {
  if (mode_ == Mode::kBar && shown_) {
    err_ << "\r" << std::string(last_width_, ' ') << "\r";
    err_.flush();
  }
  shown_ = false;
  last_width_ = 0;
}

std::string GroupThousands(uint64_t n) {
  std::string digits = StrCat(n);
  std::string out;
  const size_t first = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
  out += digits.substr(0, first);
  for (size_t i = first; i < digits.size(); i += 3) out += StrCat(",", digits.substr(i, 3));
  return out;
}

}  // namespace schakel::cli
