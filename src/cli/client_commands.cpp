// `signer client add` and `signer client list`: the clients file that `serve --clients` reads.
// `add` makes a bearer token, prints it once on stdout, and writes only its SHA-256 to the file
// (atomically: a temporary file renamed over the old one, mode 0600). Nothing else ever sees the
// token, so a lost token is replaced by adding a new client, not recovered.

#include <filesystem>
#include <iostream>
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
};

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
  auth::ClientRegistry registry;
  if (std::filesystem::exists(path)) registry = auth::ClientRegistry::load_file(path);

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
    std::cout << (client.token_hash ? "\ttoken" : "") << (client.cert_names.empty() ? "" : "\tcert")
              << "\n";
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
    cmd->callback([args, &exit_code] {
      if (args->no_token && args->cert_names.empty()) {
        throw CLI::ValidationError("client add", "--no-token needs --cert-name");
      }
      exit_code = add_client(*args);
    });
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
