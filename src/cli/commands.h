// The `signer` subcommands. Each returns the process exit code; errors go to stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "cli/config.h"
#include "keys/keystore.h"
#include "keys/pkcs11_key.h"
#include "schemes/scheme_registry.h"

namespace signer::cli {

// Subcommand arguments that are not part of Config. Owned by run_cli for the parse, so no
// subcommand keeps state in globals.
struct CommandArgs {
  std::uint64_t batch_size = 1000;                    // sign
  std::string progress = "auto";                      // sign
  std::uint64_t count = 0;                            // load, keygen
  std::string input;                                  // load, sign-message, verify
  std::string spool_dir;                              // load: where sorted runs spill
  std::string output;                                 // export, keygen --out
  std::string secret_name;                            // keygen --k8s-secret
  bool force = false;                                 // keygen
  std::string key_format = "csv";                     // keygen --format: csv or keystore
  keys::ScryptParams scrypt = keys::kStandardScrypt;  // keygen --format keystore
  std::size_t key_index = 0;                          // sign-message
  std::string msg, salt, id;                          // sign-message
  std::string url = "http://127.0.0.1:8080/healthz";  // healthcheck
  std::string job_id;                                 // audit verify
};

// Parses argv and runs the chosen subcommand. The one place exceptions become exit codes.
int run_cli(int argc, char** argv);

// Registration of each subcommand family on the CLI11 app. `config` is filled by the flags.
void add_serve_command(CLI::App& app, Config& config, int& exit_code);  // no extra args
void add_job_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code);
void add_key_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code);
void add_client_commands(CLI::App& app, Config& config, int& exit_code);
void add_audit_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code);

// Writes `content` to `path` with mode 0600 and fsyncs it, refusing to replace a file unless
// `force`. Throws std::runtime_error naming the path.
void write_private_file(const std::filesystem::path& path, const std::string& content, bool force);

// The PKCS#11 key the --pkcs11-* flags name. Throws std::invalid_argument when the token, the
// key or the PIN source is missing, or --pkcs11-key-id is not hex.
keys::Pkcs11KeyConfig pkcs11_key_config(const Config& config);
// The secret source a pair of --*-file / --*-env flags names: exactly one of them must be given
// (an empty string is not given); otherwise throws std::invalid_argument(neither_or_both).
keys::PasswordSource secret_source(const std::string& file, const std::string& env,
                                   const char* neither_or_both);

// Flags shared by several subcommands.
void add_store_flags(CLI::App& command, Config& config);
void add_keys_flag(CLI::App& command, Config& config);
// --keystore, --password-file and --password-env. Returns the --keystore option, so a command
// can make it exclude its --keys.
CLI::Option* add_keystore_flags(CLI::App& command, Config& config);
// --pkcs11-module, --pkcs11-token, --pkcs11-slot, --pkcs11-key-label, --pkcs11-key-id,
// --pkcs11-pin-file and --pkcs11-pin-env. Returns the --pkcs11-module option.
CLI::Option* add_pkcs11_flags(CLI::App& command, Config& config);
// --password-file and --password-env alone (keygen --format keystore).
void add_password_flags(CLI::App& command, Config& config);
void add_engine_flags(CLI::App& command, Config& config);
// The schemes config.scheme_files define. Throws schemes::SchemeFileError.
schemes::SchemeRegistry load_schemes(const Config& config);
// --scheme-file (repeatable): EIP-712 scheme files; with `with_scheme`, also --scheme.
void add_scheme_flags(CLI::App& command, Config& config, bool with_scheme);

// Applies config.log_level to spdlog (logs go to stderr).
void configure_logging(const Config& config);

}  // namespace signer::cli
