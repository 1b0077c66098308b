// The clients file of a running signer, reloaded without a restart (reload/reloadable.h), so that a
// leaked token is revoked, a client added or rotated, as soon as the file changes: on SIGHUP, and
// when the file changes (a Kubernetes Secret update swaps a symlink). A reload that fails (a
// broken file, a client naming a key that is not loaded) keeps the old registry and says why
// (/readyz, signer_clients_reloads_total{outcome="failed"}). Authentication is per request against
// current(), so a removed client's next request is refused, on a connection already open too.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "auth/client_registry.h"
#include "reload/reloadable.h"

namespace signer::auth {

class ClientRegistryHolder {
 public:
  // Checks a loaded registry beyond the file's own rules (its key lists against the key set, its
  // certificate names against the proxies'); throws std::exception to refuse it.
  using Validator = std::function<void(const ClientRegistry&)>;
  using Observer = reload::Reloadable<ClientRegistry>::Observer;
  using Status = reload::ReloadStatus;  // items: the clients

  // Loads `file` and checks it with `validate`; throws ClientsFileError (or what `validate`
  // throws) when either fails.
  ClientRegistryHolder(std::filesystem::path file, Validator validate);
  // A fixed registry that never reloads (tests, tools).
  explicit ClientRegistryHolder(ClientRegistry registry);

  std::shared_ptr<const ClientRegistry> current() const { return registry_.current(); }
  Status status() const { return registry_.status(); }
  // Rereads the file. Returns "" on success, else the reason (the old registry stays).
  std::string reload(std::string_view why) { return registry_.reload(why); }
  void watch(std::chrono::milliseconds interval) { registry_.watch(interval); }
  // Called after each successful reload with the registry before and after (for the audit trail).
  void on_reload(Observer observer) { registry_.on_reload(std::move(observer)); }

 private:
  reload::Reloadable<ClientRegistry> registry_;
};

}  // namespace signer::auth
