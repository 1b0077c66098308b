#include "cli/commands.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "crypto/hex.h"
#include "crypto/key_ring.h"
#include "crypto/secp256k1_library.h"
#include "keys/keystore.h"
#include "keys/password.h"
#include "store/store.h"

namespace signer::cli {

void configure_logging(const Config& config) {
  auto logger = spdlog::stderr_color_mt("signer");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
}

void add_store_flags(CLI::App& command, Config& config) {
  command
      .add_option("--store", config.store,
                  "Store URL: sqlite:PATH, mongodb://HOST:PORT or postgresql://USER@HOST:PORT/DB "
                  "(env BS_MONGO_URL, BS_STORE; PostgreSQL password: BS_PG_PASSWORD or "
                  "BS_PG_PASSWORD_FILE)")
      ->capture_default_str();
  command
      .add_option("--store-timeout-ms", config.store_timeout_ms,
                  "Connect timeout of a MongoDB or PostgreSQL store (env BS_STORE_TIMEOUT_MS)")
      ->capture_default_str();
}

void add_keys_flag(CLI::App& command, Config& config) {
  command.add_option("--keys", config.keys_file,
                     "keys.csv path (default $BS_KEYS_DIR/keys.csv, else ./keys.csv)");
  command.add_option("--key-config", config.key_config,
                     "Key-set file (YAML) listing keys.csv files and keystores, in round-robin "
                     "order; replaces --keys (env BS_KEY_CONFIG)");
}

schemes::SchemeRegistry load_schemes(const Config& config) {
  return schemes::SchemeRegistry::load({config.scheme_files.begin(), config.scheme_files.end()});
}

void add_scheme_flags(CLI::App& command, Config& config, bool with_scheme) {
  command.add_option("--scheme-file", config.scheme_files,
                     "EIP-712 scheme file (YAML or JSON: domain, types, primaryType, saltField); "
                     "repeat for several (env BS_SCHEME_FILES, comma-separated)");
  if (with_scheme) {
    command
        .add_option("--scheme", config.scheme,
                    "raw (the original: Keccak-256(salt + msg), V 0/1), eip191 (personal_sign, V "
                    "27/28) or eip712[:NAME] (typed data of a --scheme-file, V 27/28)")
        ->capture_default_str();
  }
}

void add_password_flags(CLI::App& command, Config& config) {
  auto* file = command.add_option("--password-file", config.keystore_password_file,
                                  "File holding the keystore password (one trailing newline is "
                                  "stripped), e.g. a mounted Secret");
  auto* env = command.add_option(
      "--password-env", config.keystore_password_env,
      "Name of the environment variable holding the keystore password (the name, not the value)");
  file->excludes(env);
}

CLI::Option* add_keystore_flags(CLI::App& command, Config& config) {
  auto* keystore = command.add_option(
      "--keystore", config.keystore_file,
      "go-ethereum V3 keystore file to sign with instead of keys.csv; decrypted once at start, "
      "with the password from --password-file or --password-env");
  add_password_flags(command, config);
  return keystore;
}

CLI::Option* add_pkcs11_flags(CLI::App& command, Config& config) {
  auto* module = command.add_option(
      "--pkcs11-module", config.pkcs11_module,
      "PKCS#11 module (.so) of the token holding the key, e.g. /usr/lib/softhsm/libsofthsm2.so; "
      "signs on the token instead of with keys.csv");
  command.add_option("--pkcs11-token", config.pkcs11_token, "Label of the token")->needs(module);
  command
      .add_option("--pkcs11-slot", config.pkcs11_slot,
                  "Slot id of the token (instead of, or "
                  "as well as, its label)")
      ->check(CLI::NonNegativeNumber)
      ->needs(module);
  command.add_option("--pkcs11-key-label", config.pkcs11_key_label, "CKA_LABEL of the private key")
      ->needs(module);
  command.add_option("--pkcs11-key-id", config.pkcs11_key_id, "CKA_ID of the private key, in hex")
      ->needs(module);
  auto* file = command.add_option("--pkcs11-pin-file", config.pkcs11_pin_file,
                                  "File holding the user PIN (one trailing newline is stripped), "
                                  "e.g. a mounted Secret");
  auto* env = command.add_option(
      "--pkcs11-pin-env", config.pkcs11_pin_env,
      "Name of the environment variable holding the user PIN (the name, not the value)");
  file->excludes(env)->needs(module);
  env->needs(module);
  return module;
}

keys::PasswordSource secret_source(const std::string& file, const std::string& env,
                                   const char* neither_or_both) {
  if (file.empty() == env.empty()) throw std::invalid_argument(neither_or_both);
  return file.empty() ? keys::PasswordSource::environment(env) : keys::PasswordSource::file(file);
}

keys::Pkcs11KeyConfig pkcs11_key_config(const Config& config) {
  keys::Pkcs11KeyConfig out;
  out.module = config.pkcs11_module;
  out.token_label = config.pkcs11_token;
  if (config.pkcs11_slot >= 0) out.slot_id = static_cast<std::uint64_t>(config.pkcs11_slot);
  if (out.token_label.empty() && !out.slot_id) {
    throw std::invalid_argument("--pkcs11-module needs the token: --pkcs11-token or --pkcs11-slot");
  }
  out.key_label = config.pkcs11_key_label;
  std::string_view id = config.pkcs11_key_id;
  crypto::strip_hex_prefix(id);
  out.key_id.resize(id.size() / 2);
  if (id.size() % 2 != 0 || !crypto::decode_hex(id, out.key_id)) {
    throw std::invalid_argument("--pkcs11-key-id must be hex (an even number of digits)");
  }
  if (out.key_label.empty() && out.key_id.empty()) {
    throw std::invalid_argument(
        "--pkcs11-module needs the key: --pkcs11-key-label or --pkcs11-key-id");
  }
  out.pin = secret_source(config.pkcs11_pin_file, config.pkcs11_pin_env,
                          "--pkcs11-module needs the PIN from exactly one of --pkcs11-pin-file "
                          "FILE or --pkcs11-pin-env VARIABLE");
  return out;
}

void add_engine_flags(CLI::App& command, Config& config) {
  command.add_option("--threads", config.threads, "Signing threads (default: one per core)");
  command.add_option("--chunk-size", config.chunk_size, "Records read, signed and moved at a time")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command
      .add_option("--chunk-bytes", config.chunk_bytes,
                  "A chunk also ends at this many bytes of ids and messages (one larger record "
                  "is read alone); bounds a batch's memory")
      ->check(CLI::Range(std::size_t{1} << 10, std::size_t{1} << 30))
      ->capture_default_str();
  command.add_option("--concurrency", config.concurrency,
                     "Batches in flight per job (default 2 in-process, 8 in cluster mode)");
  command.add_option("--batch-attempts", config.batch_attempts, "Tries per batch before it fails")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
}

// What `signer version` and `signer --version` print: this binary's version, then the
// libsecp256k1 it signs with (flagged OLD when it is older than the project's minimum).
std::string version_text() {
  return std::string("signer ") + SIGNER_VERSION + "\n" +
         crypto::describe(crypto::secp256k1_library());
}

int run_cli(int argc, char** argv) {
  Config config = config_from_environment();
  CommandArgs args;
  int exit_code = 0;
  CLI::App app{"Message Signer: batch secp256k1 signing of stored messages"};
  app.require_subcommand(1);
  app.fallthrough();  // --log-level may follow the subcommand
  app.set_version_flag("--version", version_text());
  app.add_option("--log-level", config.log_level,
                 "trace, debug, info, warn, error (env BS_LOG_LEVEL)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_subcommand("version", "Print the version and the libsecp256k1 this binary signs with")
      ->callback([] { std::cout << version_text() << "\n"; });
  add_serve_command(app, config, exit_code);
  add_job_commands(app, config, args, exit_code);
  add_key_commands(app, config, args, exit_code);
  add_client_commands(app, config, exit_code);
  add_audit_commands(app, config, args, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const crypto::KeyRingError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const keys::KeystoreError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const keys::PasswordError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const keys::Pkcs11Error& e) {
    std::cerr << "error: pkcs11 " << keys::to_string(e.kind()) << ": " << e.what() << "\n";
    return 2;
  } catch (const store::StoreError& e) {
    std::cerr << "error: store " << store::to_string(e.kind()) << ": " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}

}  // namespace signer::cli
