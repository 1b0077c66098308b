// `signer client add|list|remove|rotate`: the clients file that `serve --clients` reads (and
// reloads when it changes). `add` and `rotate` make a bearer token, print it once on stdout, and
// write only its SHA-256 to the file (atomically: a temporary file renamed over the old one, mode
// 0600). Nothing else ever sees the token, so a lost token is replaced by rotating, not recovered.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "auth/bearer_token.h"
#include "auth/client_registry.h"
#include "cli/commands.h"

namespace signer::cli {
namespace {

struct ClientArgs {
  std::string clients_file;
  std::string name;
  std::vector<std::string> roles;
  std::vector<std::string> keys;
  std::vector<std::string> cert_names;
  bool no_token = false;
  std::string expires;  // RFC 3339 UTC
  std::string grace = "0s";
};

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "90s", "10m", "2h", "1d" -> milliseconds; nullopt for anything else.
std::optional<std::int64_t> parse_duration_ms(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const std::string number = text.substr(0, text.size() - 1);
  if (!std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      number.size() > 9) {
    return std::nullopt;
  }
  const std::int64_t n = std::stoll(number);
  switch (unit) {
    case 's': return n * 1000;
    case 'm': return n * 60'000;
    case 'h': return n * 3'600'000;
    case 'd': return n * 86'400'000;
    default: return std::nullopt;
  }
}

// Reads the clients file (an empty registry when `may_be_missing` and there is none).
auth::ClientRegistry read_clients(const std::filesystem::path& path, bool may_be_missing) {
  if (may_be_missing && !std::filesystem::exists(path)) return {};
  return auth::ClientRegistry::load_file(path);
}

// Splits "a,b" items so that `--roles ingest,sign` and `--roles ingest --roles sign` both work.
std::vector<std::string> split_commas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    std::stringstream in(item);
    for (std::string part; std::getline(in, part, ',');) {
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

// Replaces `path` as a whole: a 0600 temporary file renamed over it, so a reader never sees half
// a clients file.
void write_atomically(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  write_private_file(tmp, content, /*force=*/true);
  std::filesystem::rename(tmp, path);
}

int add_client(const ClientArgs& args) {
  const std::filesystem::path path(args.clients_file);
  auth::ClientRegistry registry = read_clients(path, /*may_be_missing=*/true);

  auth::Client client;
  client.name = args.name;
  for (const std::string& role : split_commas(args.roles)) {
    const auto parsed = auth::parse_role(role);
    if (!parsed) {
      std::cerr << "error: unknown role \"" << role << "\" (ingest, sign or read)\n";
      return 2;
    }
    client.roles.add(*parsed);
  }
  client.keys = split_commas(args.keys);
  client.cert_names = split_commas(args.cert_names);
  if (!args.expires.empty()) {
    client.expires_unix_ms = auth::parse_utc_time(args.expires);
    if (!client.expires_unix_ms) {
      std::cerr << "error: --expires must be a UTC time like 2027-01-31T00:00:00Z\n";
      return 2;
    }
  }
  std::string token;
  if (!args.no_token) {
    token = auth::new_bearer_token();
    client.token_hash = auth::hash_token(token);
  }
  try {
    registry.add(std::move(client));
  } catch (const auth::ClientsFileError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  write_atomically(path, registry.to_json());
  std::cerr << "added client " << args.name << " to " << path.string()
            << (token.empty() ? " (certificate identity only)\n"
                              : "; its token is printed once, below, and stored only as SHA-256\n");
  if (!token.empty()) std::cout << token << "\n";
  return 0;
}

int remove_client(const ClientArgs& args) {
  const std::filesystem::path path(args.clients_file);
  auth::ClientRegistry registry = read_clients(path, /*may_be_missing=*/false);
  try {
    registry.remove(args.name);
  } catch (const auth::ClientsFileError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  write_atomically(path, registry.to_json());
  std::cerr << "removed client " << args.name << " from " << path.string()
            << "; a serve that reads this file refuses it from its next reload (SIGHUP, or within "
               "seconds of the change)\n";
  return 0;
}

int rotate_client(const ClientArgs& args) {
  const auto grace = parse_duration_ms(args.grace);
  if (!grace) {
    std::cerr << "error: --grace must be a duration like 90s, 10m, 2h or 1d\n";
    return 2;
  }
  const std::filesystem::path path(args.clients_file);
  auth::ClientRegistry registry = read_clients(path, /*may_be_missing=*/false);
  const std::string token = auth::new_bearer_token();
  const std::int64_t now = unix_ms_now();
  try {
    registry.rotate(args.name, auth::hash_token(token), now + *grace, now);
  } catch (const auth::ClientsFileError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  write_atomically(path, registry.to_json());
  std::cerr << "rotated the token of client " << args.name << " in " << path.string() << "; "
            << (*grace > 0 ? "the old token works until " + auth::format_utc_time(now + *grace)
                           : std::string("the old token stops working at the next reload"))
            << ". The new token is printed once, below\n";
  std::cout << token << "\n";
  return 0;
}

int list_clients(const std::string& clients_file) {
  const auth::ClientRegistry registry = auth::ClientRegistry::load_file(clients_file);
  for (const auth::Client& client : registry.clients()) {
    std::cout << client.name << "\troles=" << client.roles.to_string();
    if (!client.keys.empty()) {
      std::cout << "\tkeys=";
      for (std::size_t i = 0; i < client.keys.size(); ++i) {
        std::cout << (i ? "," : "") << client.keys[i];
      }
    }
    std::cout << (client.token_hash ? "\ttoken" : "")
              << (client.cert_names.empty() ? "" : "\tcert");
    if (client.expires_unix_ms)
      std::cout << "\texpires=" << auth::format_utc_time(*client.expires_unix_ms);
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_client_commands(CLI::App& app, Config& config, int& exit_code) {
  auto args = std::make_shared<ClientArgs>();
  CLI::App* group = app.add_subcommand("client", "Manage the clients file (who may call serve)");
  group->require_subcommand(1);
  {
    CLI::App* cmd = group->add_subcommand(
        "add", "Add a client; prints its new bearer token once (the file keeps only its SHA-256)");
    cmd->add_option("--clients", args->clients_file, "Clients file (created when missing)")
        ->envname("BS_CLIENTS_FILE")
        ->required();
    cmd->add_option("--name", args->name, "Client name, as audit events show it")->required();
    cmd->add_option("--roles", args->roles, "ingest, sign and/or read (comma-separated)")
        ->required();
    cmd->add_option("--keys", args->keys,
                    "Keys its jobs may use: indexes or addresses (comma-separated; default all)");
    cmd->add_option("--cert-name", args->cert_names,
                    "A client-certificate CN or SAN that identifies it under mTLS");
    cmd->add_flag("--no-token", args->no_token, "Identify it by --cert-name only");
    cmd->add_option("--expires", args->expires,
                    "When its credentials stop working, UTC (e.g. 2027-01-31T00:00:00Z)");
    cmd->callback([args, &exit_code] {
      if (args->no_token && args->cert_names.empty()) {
        throw CLI::ValidationError("client add", "--no-token needs --cert-name");
      }
      exit_code = add_client(*args);
    });
  }
  {
    CLI::App* cmd = group->add_subcommand(
        "remove", "Remove a client: a running serve refuses its token from its next reload");
    cmd->add_option("--clients", args->clients_file, "Clients file")
        ->envname("BS_CLIENTS_FILE")
        ->required();
    cmd->add_option("--name", args->name, "Client name")->required();
    cmd->callback([args, &exit_code] { exit_code = remove_client(*args); });
  }
  {
    CLI::App* cmd = group->add_subcommand(
        "rotate", "Give a client a new token (printed once); the old one works for --grace");
    cmd->add_option("--clients", args->clients_file, "Clients file")
        ->envname("BS_CLIENTS_FILE")
        ->required();
    cmd->add_option("--name", args->name, "Client name")->required();
    cmd->add_option("--grace", args->grace,
                    "How long the old token keeps working, e.g. 10m (default 0s: not at all)")
        ->capture_default_str();
    cmd->callback([args, &exit_code] { exit_code = rotate_client(*args); });
  }
  {
    CLI::App* cmd = group->add_subcommand("list", "List clients: names, roles and key limits");
    cmd->add_option("--clients", args->clients_file, "Clients file")
        ->envname("BS_CLIENTS_FILE")
        ->required();
    cmd->callback([args, &exit_code] { exit_code = list_clients(args->clients_file); });
  }
  (void)config;
}

}  // namespace signer::cli
