// Configuration, read once at startup from flags and the original service's BS_* environment into
// a plain struct. Flags win over the environment; the environment wins over defaults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace signer::cli {

struct Config {
  std::string store = "sqlite:signer.db";  // sqlite:PATH or mongodb://…
  std::string mongo_env_url;               // BS_MONGO_URL as given (validated in finish_config)
  std::string mongo_user;                  // BS_MONGO_USER
  std::string mongo_password;              // BS_MONGO_PWD (never logged)
  std::string pg_password;                 // BS_PG_PASSWORD (never logged)
  std::string pg_password_file;            // BS_PG_PASSWORD_FILE: a mounted Secret, read at open
  int pg_statement_timeout_ms = 30000;     // BS_PG_STATEMENT_TIMEOUT_MS
  std::string keys_file;                   // --keys, or $BS_KEYS_DIR/keys.csv, or ./keys.csv
  // A V3 keystore instead of keys.csv (--keystore), and where its password comes from: a file
  // (--password-file) or the name of an environment variable (--password-env), never the value.
  // keygen --format keystore reads the password it encrypts with from the same two flags.
  std::string key_config;  // --key-config, BS_KEY_CONFIG: a key-set file (keys/key_set_config.h)
  int key_watch_interval_ms = 2000;  // BS_KEY_WATCH_INTERVAL_MS; 0: reload on SIGHUP only
  std::string keystore_file;
  std::string keystore_password_file;
  std::string keystore_password_env;
  // A key on a PKCS#11 token instead (sign-message --pkcs11-module …): the module file, the token
  // by label and/or slot id, the key by label and/or CKA_ID (hex), and where the user PIN comes
  // from: a file or the name of an environment variable, never the value.
  std::string pkcs11_module;
  std::string pkcs11_token;
  std::int64_t pkcs11_slot = -1;  // -1: by label only
  std::string pkcs11_key_label;
  std::string pkcs11_key_id;
  std::string pkcs11_pin_file;
  std::string pkcs11_pin_env;
  std::string host;      // BS_SIGNER_HOST; default 0.0.0.0 with a clients file, else 127.0.0.1
  int port = 8080;       // BS_SIGNER_PORT
  std::string peer_url;  // BS_MSG_SIGNER_URL: cluster mode when set
  std::string internal_token;  // BS_INTERNAL_TOKEN
  std::string pod_name;        // BS_POD_NAME, else HOSTNAME
  std::size_t threads = 0;     // 0: one per core
  std::size_t chunk_size = 2000;
  std::size_t chunk_bytes = std::size_t{8} << 20;  // --chunk-bytes: a chunk's byte budget
  std::size_t concurrency = 0;                     // 0: 2 in-process, 8 in cluster mode
  std::size_t max_concurrent_batches = 16;
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_ingest_records = 1'000'000;
  int batch_attempts = 4;
  int batch_timeout_seconds = 600;
  int shutdown_grace_seconds = 25;  // BS_SHUTDOWN_GRACE_SECONDS
  int store_timeout_ms =
      5000;  // BS_STORE_TIMEOUT_MS: connect / server selection (MongoDB, PostgreSQL)
  // BS_SQLITE_SYNCHRONOUS: "full" (default, durable through an OS crash) or "normal" (faster;
  // for measurement). Any other value is refused by finish_config.
  std::string sqlite_synchronous = "full";
  // BS_SQLITE_INBOX_MERGE_ROWS: the least number of unsigned records a store holds before sparse
  // ingests go to its inbox, and the least the inbox holds before it is merged
  // (docs/ARCHITECTURE.md, "The SQLite inbox"). 0: the store's default (262,144), which suits
  // stores of millions; a value that is not a positive whole number is -1, which finish_config
  // refuses.
  long long sqlite_inbox_merge_rows = 0;
  std::string log_level = "info";

  // Signing schemes (schemes/): BS_SCHEME_FILES, comma-separated EIP-712 scheme files (YAML or
  // JSON) --scheme may name as eip712:<name>; and the scheme of `sign-message` (--scheme).
  std::vector<std::string> scheme_files;
  std::string scheme = "raw";

  // Connections (http/http_server.h).
  int internal_port = -1;                      // BS_INTERNAL_PORT: probes, /metrics, /batch
  std::size_t max_connections_per_client = 0;  // BS_MAX_CONNECTIONS_PER_CLIENT; 0: no cap
  std::size_t max_connections = 20000;         // BS_MAX_CONNECTIONS: per listener; 0: no cap
  int header_timeout_ms = 10000;               // the whole request head

  // The audit trail: BS_AUDIT_RETENTION_DAYS (0: keep every event), pruned at start and every
  // BS_AUDIT_PRUNE_INTERVAL_MS.
  int audit_retention_days = 0;
  int audit_prune_interval_ms = 3'600'000;
  // BS_REFUSAL_AUDIT_WINDOW_MS: refusals of unidentified callers, one audit event per address,
  // route and reason per window.
  int refusal_audit_window_ms = 60'000;

  // Who may call (src/auth, http/request_gate.h).
  std::string clients_file;                  // BS_CLIENTS_FILE
  bool insecure_no_auth = false;             // BS_INSECURE_NO_AUTH=1
  std::vector<std::string> allowed_origins;  // BS_ALLOWED_ORIGINS, comma-separated
  bool metrics_require_auth = false;         // BS_METRICS_AUTH=1
  // BS_PROXY_CERT_NAMES, comma-separated: CN or DNS names of certificates that proxies in front
  // present (an ingress). Such a certificate authenticates nobody.
  std::vector<std::string> proxy_cert_names;

  // TLS for the listener (BS_TLS_*) and for calls to the peer URL (BS_PEER_*).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string tls_profile = "intermediate";  // BS_TLS_PROFILE: intermediate or modern
  std::string peer_ca;
  std::string peer_cert;
  std::string peer_key;
};

// Fills the defaults that come from the environment. Flags parsed afterwards override them.
Config config_from_environment();

// Resolves derived defaults (threads, concurrency, keys path) after flags are parsed.
// Throws std::invalid_argument when BS_MONGO_URL is set, chosen, and not a MongoDB URL: the
// original service reads it as one, so it must never silently become a SQLite file name.
void finish_config(Config& config);

}  // namespace signer::cli
