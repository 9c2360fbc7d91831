// `schakel init` and `schakel partners`: the operator's set-up tasks, done on
// files of the host where they run (like `keys`; no node connection).
//
//   schakel init gateway --dir DIR [--org-id gateway] [--listen ADDR] [--data-dir DIR2]
//                        [--ca F --cert F --key F] [--policy FILE]
//   schakel init node --org ORG --domain D --dir DIR --gateway-endpoint HOST:PORT
//                     --gateway-signing-key HEX [--gateway-org-id ID] [--gateway-server-name N]
//                     [--listen ADDR] [--local-listen ADDR] [--advertise HOST:PORT]
//                     [--display-name TEXT] [--data-dir DIR2] [--admin-credential F]
//                     [--ca F --cert F --key F] [--ask-only]
//   schakel partners register ENTRY.json --directory FILE [--replace]
//   schakel partners list --directory FILE [--json]
//   schakel partners deactivate ORG --directory FILE
//
// `init gateway` writes DIR/keys/signing.key (mode 0600), DIR/gateway.json,
// DIR/directory.json (no organisations yet) and, with --policy, the
// convenant checked and copied to DIR/policy.json (without it the operator
// writes one: the gateway does not start without); `init node` writes
// DIR/keys/{oprf,signing,box}.key (mode 0600), DIR/node.json,
// DIR/local-policy.json (nothing matchable until edited), DIR/cli-admin.json
// (the CLI config of the bootstrap admin) and DIR/partner.json: this
// organisation's directory entry (public keys only), for the gateway's
// operator. Every config is written with a comment per setting and checked
// with the same parser the server uses before anything is written. Existing
// files are never replaced: when any of them exists the command refuses
// (exit 7) and writes nothing. The files are made in a staging folder
// inside DIR, then linked into place one by one; a failure removes those
// already linked (a crash in between can leave some, which the next run
// names and refuses).
//
// `partners register` adds (or with --replace, replaces) an organisation in
// the gateway's directory file. The new directory is checked with the
// gateway's own rules (gateway/directory.h) before the file is replaced
// (atomically, fsynced, with the old file's owner and mode; the previous
// file is kept as FILE.previous), so a
// refused entry changes nothing. Comments of the old file are not kept. The
// gateway reads its directory at start and on a reload (SIGHUP, or
// GatewayAdmin.ReloadDirectory), which logs every change before it takes
// effect.
//
// Ownership and thread safety: as the other Register* functions (the
// context must outlive the app); not for concurrent use.
#ifndef SCHAKEL_CLI_ADMIN_COMMAND_H_
#define SCHAKEL_CLI_ADMIN_COMMAND_H_

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

#include "cli/command_context.h"

namespace schakel::cli {

// Adds `init` and `partners` and their subcommands to `app`.
void RegisterAdminCommands(CLI::App& app, CommandContext& context);

struct InitGatewayRequest {
  std::filesystem::path dir;
  std::string org_id = "gateway";
  std::string listen = "0.0.0.0:8443";
  std::filesystem::path data_dir;  // empty: DIR/data
  std::filesystem::path ca, cert, key;  // empty: DIR/pki/{ca.pem,<org>.pem,<org>.key}
  std::filesystem::path policy;  // a convenant to check and copy to DIR/policy.json; empty: none
};

// Writes the gateway's files (see the top of this file) and prints its
// signing public key and the next steps. Fails the context with kConflict
// when a file exists, kInvalidInput when a value is refused by the config
// parser (naming the setting), kInternalError when a file cannot be written.
void RunInitGateway(const InitGatewayRequest& request, CommandContext& context);

struct InitNodeRequest {
  std::filesystem::path dir;
  std::string org_id;
  std::string display_name;  // empty: the org id
  std::string domain;        // safety, care, social or housing
  std::string gateway_endpoint;
  std::string gateway_signing_key;  // 64 hex
  std::string gateway_org_id = "gateway";
  std::string gateway_server_name;  // empty: the endpoint's host
  std::string listen = "0.0.0.0:8443";
  std::string local_listen = "127.0.0.1:9443";
  std::string advertise;  // empty: listen (when its host is not a wildcard)
  std::filesystem::path data_dir;          // empty: DIR/data
  std::filesystem::path admin_credential;  // empty: in data_dir, else DIR/admin.credential
  std::filesystem::path ca, cert, key;     // empty: DIR/pki/{ca.pem,<org>.pem,<org>.key}
  bool ask_only = false;  // the organisation only asks: no endpoint in partner.json
};

// Writes the node's files (see the top of this file) and prints its public
// keys and the next steps. Errors as RunInitGateway.
void RunInitNode(const InitNodeRequest& request, CommandContext& context);

struct PartnersRegisterRequest {
  std::filesystem::path entry;      // a partner.json
  std::filesystem::path directory;  // the gateway's directory file
  bool replace = false;
};

// Adds the entry to the directory (see the top of this file). Fails the
// context with kConflict when the organisation is there already (without
// replace), kInvalidInput when the entry or the resulting directory is
// refused (every problem named), kConfigError when a file cannot be read.
void RunPartnersRegister(const PartnersRegisterRequest& request, CommandContext& context);

// Lists the directory's organisations: a table, or with `json` the document
// {"organisations": [{org_id, display_name, domain, endpoint, active,
// answers, signing_key_ids, ...}]}.
void RunPartnersList(const std::filesystem::path& directory, bool json, CommandContext& context);

// Marks an organisation inactive ("active": false): its certificate is no
// longer accepted and it is no longer asked, once the gateway reloads.
void RunPartnersDeactivate(const std::filesystem::path& directory, const std::string& org_id,
                           CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_ADMIN_COMMAND_H_
