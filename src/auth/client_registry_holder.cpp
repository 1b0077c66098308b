#include "auth/client_registry_holder.h"

namespace signer::auth {
namespace {

std::size_t count_clients(const ClientRegistry& registry) { return registry.clients().size(); }

}  // namespace

ClientRegistryHolder::ClientRegistryHolder(std::filesystem::path file, Validator validate)
    : registry_(
          "clients file",
          [file = std::move(file), validate = std::move(validate)](std::uint64_t) {
            auto registry = std::make_shared<const ClientRegistry>(ClientRegistry::load_file(file));
            if (validate) validate(*registry);
            return reload::Reloadable<ClientRegistry>::Loaded{std::move(registry), {file}};
          },
          count_clients, /*allow_empty=*/true) {}

ClientRegistryHolder::ClientRegistryHolder(ClientRegistry registry)
    : registry_(
          "clients",
          [registry = std::make_shared<const ClientRegistry>(std::move(registry))](std::uint64_t) {
            return reload::Reloadable<ClientRegistry>::Loaded{registry, {}};
          },
          count_clients, /*allow_empty=*/true) {}

}  // namespace signer::auth
