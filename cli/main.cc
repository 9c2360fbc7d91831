// schakel: the command-line tool. Everything happens in RunSchakel
// (cli/app.h); this file only connects it to the process.
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return schakel::cli::RunSchakel(args, std::cout, std::cerr);
}
