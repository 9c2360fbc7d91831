// Progress of long work (an import, a chain verification) on stderr.
//
// On a terminal a bar redrawn in place ("\r"), at most every 100 ms and
// erased when done; elsewhere nothing, unless the user asked for plain
// progress lines (--progress), printed at most once a second, for logs of
// scripted runs. stdout is never touched, so `--json` output stays clean.
//
// Thread safety: not thread-safe; one thread reports.
#ifndef SCHAKEL_CLI_PROGRESS_H_
#define SCHAKEL_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "cli/command_context.h"

namespace schakel::cli {

class Progress {
 public:
  enum class Mode { kNone, kBar, kLines };

  // kBar on a terminal, else kLines when `lines_requested`, else kNone.
  static Mode ModeFor(const Environment& environment, bool lines_requested);

  // `interval` overrides the minimum time between two outputs (tests use 0).
  Progress(std::ostream& err, Mode mode, std::chrono::milliseconds interval);
  Progress(std::ostream& err, Mode mode);

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { Done(); }

  // Reports that `fraction` (0..1; negative when unknown) is done, with a
  // short text such as "450,000 rows, 12,345 rows/s". Throttled. The
  // percentage shown never decreases: a lower fraction than an earlier one
  // shows the earlier one.
  void Update(double fraction, std::string_view text);
  // Erases the bar (kBar). Idempotent.
  void Done();

  Mode mode() const { return mode_; }

 private:
  std::ostream& err_;
  Mode mode_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
  size_t last_width_ = 0;
  double highest_ = 0;
};

// 1234567 -> "1,234,567".
std::string GroupThousands(uint64_t n);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_PROGRESS_H_
