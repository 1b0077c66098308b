// `signer keygen`, `sign-message`, `verify` and `healthcheck`: key and signature tools.
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cryptopp/base64.h>
#include <cryptopp/filters.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <unordered_set>

#include "cli/commands.h"
#include "cli/service_graph.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "keys/keystore.h"
#include "keys/password.h"
#include "records/record_json.h"
#include "schemes/record_verifier.h"
#include "signing/record_signer.h"
#include "signing/worker_pool.h"

namespace signer::cli {
namespace {

std::string base64(const std::string& data) {
  std::string out;
  CryptoPP::StringSource source(data, true,
                                new CryptoPP::Base64Encoder(new CryptoPP::StringSink(out), false));
  return out;
}

int keygen(std::size_t count, const std::string& out_dir, const std::string& secret_name,
           bool force) {
  if (count == 0) throw std::invalid_argument("--count must be at least 1");
  std::filesystem::create_directories(out_dir);
  const crypto::KeyRing ring = crypto::KeyRing::generate(count);
  std::string csv = ring.to_csv();
  struct Wipe {
    std::string& s;
    ~Wipe() { crypto::secure_zero(s.data(), s.size()); }
  } wipe_csv{csv};
  const std::filesystem::path keys_path = std::filesystem::path(out_dir) / "keys.csv";
  write_private_file(keys_path, csv, force);
  std::cout << "wrote " << count << " keys to " << keys_path.string() << " (mode 0600)\n";
  if (!secret_name.empty()) {
    std::string encoded = base64(csv);
    Wipe wipe_encoded{encoded};
    std::string manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + secret_name +
                           "\n  labels:\n    app.kubernetes.io/name: message-signer\n"
                           "type: Opaque\ndata:\n  keys.csv: " +
                           encoded + "\n";
    Wipe wipe_manifest{manifest};
    const auto secret_path = std::filesystem::path(out_dir) / (secret_name + "-secret.yaml");
    write_private_file(secret_path, manifest, force);
    std::cout << "wrote Kubernetes Secret " << secret_name << " to " << secret_path.string()
              << " (kubectl apply -f " << secret_path.string() << ")\n";
  }
  for (std::size_t i = 0; i < ring.size(); ++i) {
    std::cout << i << " " << ring.at(i).address << " " << ring.at(i).public_key << "\n";
  }
  return 0;
}

// keygen --format keystore: one go-ethereum V3 keystore file per key, named as go-ethereum names
// them, each encrypted under the one password read from `password_source`.
int keygen_keystores(std::size_t count, const std::string& out_dir,
                     const keys::PasswordSource& password_source, const keys::ScryptParams& scrypt,
                     bool force) {
  if (count == 0) throw std::invalid_argument("--count must be at least 1");
  if (auto problem = keys::scrypt_params_problem(scrypt)) {
    throw std::invalid_argument("--scrypt-n/--scrypt-p: " + *problem);
  }
  std::vector<std::string> warnings;
  const keys::Password password = keys::read_password_source(password_source, warnings);
  for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
  if (password.empty()) {
    throw std::invalid_argument(password_source.describe() +
                                " is empty: a keystore needs a password to protect anything");
  }
  std::filesystem::create_directories(out_dir);
  const crypto::KeyRing ring = crypto::KeyRing::generate(count);
  std::vector<std::filesystem::path> written;
  for (const crypto::SigningKey& key : ring.keys()) {
    const std::string json = keys::encrypt_keystore(key.private_key, password, scrypt);
    const std::filesystem::path path =
        std::filesystem::path(out_dir) /
        keys::keystore_file_name(key.address, std::chrono::system_clock::now());
    write_private_file(path, json, force);
    written.push_back(path);
  }
  std::cout << "wrote " << count << " keystore files to " << out_dir
            << " (mode 0600; scrypt n=" << scrypt.n << " r=" << scrypt.r << " p=" << scrypt.p
            << ")\n";
  for (std::size_t i = 0; i < ring.size(); ++i) {
    std::cout << i << " " << ring.at(i).address << " " << ring.at(i).public_key << " "
              << written[i].string() << "\n";
  }
  return 0;
}

records::SignedRecord sign_one(const keys::KeySet& keys, const schemes::SigningScheme& scheme,
                               crypto::MessageSigner& signer, crypto::SaltGenerator& salts,
                               std::size_t key_index, std::string id, std::string msg,
                               std::optional<std::string> salt) {
  if (key_index >= keys.size()) {
    throw std::invalid_argument("key index " + std::to_string(key_index) + " is not below " +
                                std::to_string(keys.size()));
  }
  if (salt && !crypto::is_uuid_v4(*salt)) {
    // verify rejects any other salt (signature_verifier.h), so never produce one.
    throw std::invalid_argument("salt must be a lowercase UUIDv4 with hyphens");
  }
  records::SignedRecord r;
  r.id = std::move(id);
  r.salt = salt ? std::move(*salt) : salts.next();
  r.msg = std::move(msg);
  if (auto reason = signing::sign_record(scheme, keys.at(key_index), signer, r)) {
    throw std::invalid_argument("cannot sign under " + scheme.name() + ": " + *reason);
  }
  return r;
}

// The scheme --scheme names, among config's scheme files. Throws std::invalid_argument.
schemes::SigningScheme resolve_scheme(const Config& config) {
  auto scheme = load_schemes(config).resolve(config.scheme);
  if (auto* reason = std::get_if<std::string>(&scheme)) throw std::invalid_argument(*reason);
  return std::get<schemes::SigningScheme>(scheme);
}

int sign_message(Config& config, const CommandArgs& args, const CLI::Option* salt_opt) {
  finish_config(config);
  configure_logging(config);
  // The same key set serve and sign would load (keys.csv, --keystore, --pkcs11-*, --key-config).
  const std::shared_ptr<const keys::KeySet> keys = load_key_set(config, 1).set;
  const schemes::SigningScheme scheme = resolve_scheme(config);
  crypto::MessageSigner signer;
  crypto::SaltGenerator salts;
  if (args.input.empty()) {
    std::optional<std::string> salt;
    if (salt_opt->count() > 0) salt = args.salt;
    std::cout << records::to_json(sign_one(*keys, scheme, signer, salts, args.key_index, args.id,
                                           args.msg, salt))
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.input != "-") {
    file.open(args.input, std::ios::binary);
    if (!file) throw std::runtime_error("cannot read " + args.input);
    in = &file;
  }
  int status = 0;
  std::string out;
  records::for_each_json_object(
      *in,
      [&](std::size_t index, const nlohmann::json& o) {
        try {
          std::optional<std::string> salt;
          if (o.contains("salt")) salt = o.at("salt").get<std::string>();
          out.clear();
          records::append_json_line(
              out, sign_one(*keys, scheme, signer, salts, o.at("key_index").get<std::size_t>(),
                            o.value("id", std::string()), o.at("msg").get<std::string>(), salt));
          std::cout << out;
        } catch (const std::exception& e) {
          std::cerr << "line " << index << ": " << e.what() << "\n";
          status = 1;
        }
      },
      [&](records::Rejection r) {
        std::cerr << "line " << r.index << ": " << r.reason << "\n";
        status = 1;
      });
  return status;
}

int verify(Config& config, const std::string& input) {
  finish_config(config);
  configure_logging(config);
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!input.empty() && input != "-") {
    file.open(input, std::ios::binary);
    if (!file) {
      std::cerr << "error: cannot read " << input << "\n";
      return 2;
    }
    in = &file;
  }
  const schemes::RecordVerifier verifier(load_schemes(config).typed());
  signing::WorkerPool pool(config.threads);
  std::vector<records::SignedRecord> chunk;
  std::vector<std::optional<std::string>> verdicts;
  std::unordered_set<std::string> seen;
  std::uint64_t valid = 0;
  std::uint64_t invalid = 0;
  auto report = [&](const std::string& id, std::string_view reason) {
    ++invalid;
    std::cout << "invalid " << (id.empty() ? "(no id)" : id) << ": " << reason << "\n";
  };
  auto flush = [&] {
    verdicts.assign(chunk.size(), std::nullopt);
    pool.run(chunk.size(), [&](std::size_t b, std::size_t e, signing::WorkerContext& ctx) {
      for (std::size_t i = b; i < e; ++i) verdicts[i] = verifier.check(ctx.signer, chunk[i]);
    });
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      if (verdicts[i]) {
        report(chunk[i].id, *verdicts[i]);
      } else if (!seen.insert(chunk[i].id).second) {
        report(chunk[i].id, "duplicate id");
      } else {
        ++valid;
      }
    }
    chunk.clear();
  };
  try {
    records::for_each_json_object(
        *in,
        [&](std::size_t, const nlohmann::json& o) {
          records::SignedRecord r;
          if (auto reason = records::signed_record_from_json(o, r)) {
            report(records::reported_id(o), *reason);
            return;
          }
          chunk.push_back(std::move(r));
          if (chunk.size() == 8192) flush();
        },
        [&](records::Rejection r) { report(r.id, r.reason); });
    flush();
  } catch (const records::MalformedInput& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  std::cout << "valid " << valid << " invalid " << invalid << "\n";
  return invalid == 0 ? 0 : 1;
}

// Checks `url`; for https, verifies the server against config.peer_ca (the pods' CA) and presents
// config.peer_cert/peer_key when the server requires a client certificate (the chart's exec probes
// under mTLS, where the kubelet has no certificate to offer).
int healthcheck(const std::string& url, const Config& config) {
  const std::size_t scheme = url.find("://");
  const std::size_t path_start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const std::string base = url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/healthz" : url.substr(path_start);
  auto owned = config.peer_cert.empty()
                   ? std::make_unique<httplib::Client>(base)
                   : std::make_unique<httplib::Client>(base, config.peer_cert, config.peer_key);
  httplib::Client& client = *owned;
  if (url.rfind("https://", 0) == 0) {
    if (!config.peer_ca.empty()) client.set_ca_cert_path(config.peer_ca);
    client.enable_server_certificate_verification(true);
  }
  client.set_connection_timeout(2);
  client.set_read_timeout(3);
  auto res = client.Get(path);
  if (!res) {
    std::cerr << "unhealthy: " << httplib::to_string(res.error()) << "\n";
    return 1;
  }
  if (res->status != 200) {
    std::cerr << "unhealthy: HTTP " << res->status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void write_private_file(const std::filesystem::path& path, const std::string& content, bool force) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno) +
                             (errno == EEXIST ? " (use --force to replace it)" : ""));
  }
  ::fchmod(fd, 0600);
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
    }
    written += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) throw std::runtime_error("cannot write " + path.string());
}

void add_key_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code) {
  {
    CLI::App* cmd = app.add_subcommand(
        "keygen",
        "Generate signing keys into DIR/keys.csv (0600), or into go-ethereum V3 keystore files");
    cmd->add_option("--count", args.count, "Number of keys")
        ->required()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--out", args.output, "Output directory")->required();
    auto* secret =
        cmd->add_option("--k8s-secret", args.secret_name,
                        "Also write DIR/NAME-secret.yaml, a Kubernetes Secret holding keys.csv");
    cmd->add_flag("--force", args.force, "Replace existing files");
    cmd->add_option("--format", args.key_format,
                    "csv: DIR/keys.csv; keystore: one DIR/UTC--<time>--<address> file per key "
                    "(go-ethereum V3, scrypt), encrypted with the password of --password-file or "
                    "--password-env")
        ->check(CLI::IsMember({"csv", "keystore"}))
        ->capture_default_str();
    auto* scrypt_n = cmd->add_option("--scrypt-n", args.scrypt.n,
                                     "keystore scrypt N, a power of 2 (go-ethereum's standard; "
                                     "4096 is its light setting, for tests)")
                         ->capture_default_str();
    auto* scrypt_p =
        cmd->add_option("--scrypt-p", args.scrypt.p, "keystore scrypt p")->capture_default_str();
    add_password_flags(*cmd, config);
    cmd->callback([&, secret, scrypt_n, scrypt_p] {
      if (args.key_format == "csv") {
        if (scrypt_n->count() + scrypt_p->count() > 0 || !config.keystore_password_file.empty() ||
            !config.keystore_password_env.empty()) {
          throw CLI::ValidationError(
              "keygen", "--scrypt-n, --scrypt-p and the password flags need --format keystore");
        }
        exit_code = keygen(args.count, args.output, args.secret_name, args.force);
        return;
      }
      if (secret->count() > 0) {
        throw CLI::ValidationError("keygen", "--k8s-secret writes keys.csv; not with keystores");
      }
      exit_code = keygen_keystores(args.count, args.output, keystore_password_source(config),
                                   args.scrypt, args.force);
    });
  }
  {
    CLI::App* cmd = app.add_subcommand(
        "sign-message",
        "Sign messages with a key of keys.csv, a V3 keystore or a PKCS#11 token; prints signed "
        "records as JSON");
    add_keys_flag(*cmd, config);
    CLI::Option* keystore = add_keystore_flags(*cmd, config);
    keystore->excludes(cmd->get_option("--keys"));
    CLI::Option* pkcs11 = add_pkcs11_flags(*cmd, config);
    pkcs11->excludes(cmd->get_option("--keys"))->excludes(keystore);
    cmd->add_option("--key-index", args.key_index,
                    "Key to use (0-based line of keys.csv; 0 with --keystore or --pkcs11-module)");
    auto* msg = cmd->add_option("--msg", args.msg, "Message to sign");
    auto* salt = cmd->add_option("--salt", args.salt, "Salt (default: random UUIDv4)");
    cmd->add_option("--id", args.id, "Record id to put in the output");
    auto* input =
        cmd->add_option("--input", args.input,
                        "NDJSON lines {id, key_index, msg, salt?} to sign in bulk; - for stdin");
    input->excludes(msg);
    add_scheme_flags(*cmd, config, true);
    cmd->callback([&, msg, input, salt] {
      if (msg->count() == 0 && input->count() == 0) {
        throw CLI::ValidationError("sign-message", "give --msg or --input");
      }
      exit_code = sign_message(config, args, salt);
    });
  }
  {
    CLI::App* cmd = app.add_subcommand(
        "verify",
        "Verify signed records (NDJSON or JSON array); exit 0 all valid, 1 not, 2 unreadable");
    cmd->add_option("--input", args.input, "File, or - for stdin (default)");
    cmd->add_option("--threads", config.threads, "Verification threads (default: one per core)");
    add_scheme_flags(*cmd, config, false);
    cmd->callback([&] { exit_code = verify(config, args.input); });
  }
  {
    CLI::App* cmd = app.add_subcommand("healthcheck", "Exit 0 when URL answers HTTP 200");
    cmd->add_option("--url", args.url, "URL to check")->capture_default_str();
    cmd->add_option("--peer-ca", config.peer_ca, "PEM CA for an https URL (env BS_PEER_CA)");
    cmd->add_option("--peer-cert", config.peer_cert,
                    "Client certificate, when the server requires one (env BS_PEER_CERT)");
    cmd->add_option("--peer-key", config.peer_key, "Key of --peer-cert (env BS_PEER_KEY)");
    cmd->callback([&] { exit_code = healthcheck(args.url, config); });
  }
}

}  // namespace signer::cli
