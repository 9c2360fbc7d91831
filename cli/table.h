// Aligned text tables and "key: value" blocks, the CLI's output for people.
//
// Columns are padded to the widest cell by display width (UTF-8 aware, so
// "Çelik" and "de Vries" line up), separated by two spaces; the header is
// printed as given, the last column is not padded. Cells are printed as
// they are: callers pass no identifiers where the output must not show any.
//
// Thread safety: a Table is a plain value; not for concurrent mutation.
#ifndef SCHAKEL_CLI_TABLE_H_
#define SCHAKEL_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace schakel::cli {

// Columns a terminal shows for `text`: UTF-8 code points by their East Asian
// width, combining marks 0; invalid bytes count 1 each.
size_t DisplayWidth(std::string_view text);

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}

  // A row; missing cells are empty, extra cells are an error of the caller
  // and are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints "key: value" lines, keys padded to the longest so values line up.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields,
                 std::ostream& out);

// "a, b, c"; `empty` when there is nothing.
std::string JoinList(const std::vector<std::string>& items, std::string_view separator = ", ",
                     std::string_view empty = "-");

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_TABLE_H_
