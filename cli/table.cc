#include "cli/table.h"

#include <utf8proc.h>

#include <algorithm>

namespace schakel::cli {

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t code_point = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &code_point);
    if (n <= 0) {
      ++width;
      ++p;
      --left;
      continue;
    }
    width += static_cast<size_t>(std::max(0, utf8proc_charwidth(code_point)));
    p += n;
    left -= n;
  }
  return width;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(header_.size(), 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  print(header_);
  for (const auto& row : rows_) print(row);
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields,
                 std::ostream& out) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key));
  for (const auto& [key, value] : fields) {
    out << key << ":" << std::string(width - DisplayWidth(key) + 1, ' ') << value << "\n";
  }
}

std::string JoinList(const std::vector<std::string>& items, std::string_view separator,
                     std::string_view empty) {
  if (items.empty()) return std::string(empty);
  std::string joined;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) joined += separator;
    joined += items[i];
  }
  return joined;
}

}  // namespace schakel::cli
