// `schakel keys`: the commands about match keys.
//
//   schakel keys derive [--bsn B] [--given-names G --surname S --birth-date D]
//                       [--postcode P --house-number H] [--json]
//   schakel keys generate --kind oprf|ed25519|x25519 --out FILE [--force]
//
// `keys derive` shows the canonical match keys (protocol.md, "Match keys") a
// subject's identifiers yield, so that a user can see why two records do or
// do not match. It prints only the user's own canonical keys and their OPRF
// input strings: nothing secret (no node key, no OPRF output, no tag).
//
// `keys generate` writes a new secret key file with crypto/key_file.h (mode
// 0600, docs/key-files.md) and prints only public information:
//   kind: <kind name of the file format>
//   file: <path>
//   public: <64 hex digits>
//   key_id: <16 hex digits: the first 8 bytes of BLAKE2b-256 of the public key>
// An existing file is refused (exit 3, nothing written) unless --force.
//
// Ownership and thread safety: RegisterKeysCommands stores a reference to the
// context in the commands' callbacks; the context must outlive the app. Not
// for concurrent use.
#ifndef SCHAKEL_CLI_KEYS_COMMAND_H_
#define SCHAKEL_CLI_KEYS_COMMAND_H_

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

#include "cli/command_context.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/match_keys.h"

namespace schakel::cli {

// Adds `keys` and its subcommands to `app`.
void RegisterKeysCommands(CLI::App& app, CommandContext& context);

struct KeysDeriveRequest {
  crypto::SubjectIdentifiers subject;
  bool json = false;
};

// Derives and prints the keys of `request.subject`: an aligned table with a
// note on what was removed, or with `json` the document
//   {"keys":[{"type":"bsn","canonical":"...","oprf_input":"schakel:v1:bsn:..."}, ...]}
// Invalid identifiers fail the context with ExitCode::kInvalidInput and a
// message that names the field, not the value.
void RunKeysDerive(const KeysDeriveRequest& request, CommandContext& context);

struct KeysGenerateRequest {
  crypto::KeyKind kind = crypto::KeyKind::kEd25519;
  std::filesystem::path out;
  bool force = false;
};

// Generates a key of `request.kind`, saves it to `request.out` and prints the
// public part (see the top of this file). An existing file without `force`
// fails the context with ExitCode::kInvalidInput and leaves the file as it
// was; a missing directory likewise.
void RunKeysGenerate(const KeysGenerateRequest& request, CommandContext& context);

// Generates a new key of `kind`, saves it to `out` (crypto/key_file.h, mode
// 0600) and returns its public key (32 bytes). Errors: those of the Save*
// function of crypto/key_file.h (ALREADY_EXISTS with Overwrite::kRefuse when
// the file exists, NOT_FOUND / PERMISSION_DENIED for the directory).
absl::StatusOr<crypto::Bytes> GenerateKeyFile(crypto::KeyKind kind, const std::filesystem::path& out,
                                              crypto::Overwrite overwrite);

// The key id printed by `keys generate`: lower-case hex of the first 8 bytes
// of BLAKE2b-256 of the raw public key (canonical::KeyId for Ed25519 keys).
std::string KeyIdHex(crypto::ByteView public_key);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_KEYS_COMMAND_H_
