// Damage to a store file at a random place, for the corruption tests
// (LogCorruptionTest in-process, corruption.GatewayStoreDamageTest against a
// real gateway; docs/faults.md). Header only.
#ifndef SCHAKEL_TESTS_SUPPORT_STORE_DAMAGE_H_
#define SCHAKEL_TESTS_SUPPORT_STORE_DAMAGE_H_

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace schakel::testing {

// Flips one byte of `file` (a non-empty file) or cuts the file short there,
// at a place and with a change drawn from `rng`. Returns what it did, e.g.
// "byte 7321 of 000009.log (14177 bytes) flipped" or "000009.log cut to 637
// of 14177 bytes"; "" when the file could not be changed.
inline std::string DamageFile(const std::filesystem::path& file, std::mt19937_64& rng) {
  const std::string name = file.filename().string();
  const uintmax_t size = std::filesystem::file_size(file);
  const uintmax_t offset = std::uniform_int_distribution<uintmax_t>(0, size - 1)(rng);
  if (rng() % 2 == 0) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ static_cast<char>(1 + rng() % 255));
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&byte, 1);
    if (!f.good()) return "";
    return "byte " + std::to_string(offset) + " of " + name + " (" + std::to_string(size) +
           " bytes) flipped";
  }
  std::filesystem::resize_file(file, offset);
  return name + " cut to " + std::to_string(offset) + " of " + std::to_string(size) + " bytes";
}

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_STORE_DAMAGE_H_
