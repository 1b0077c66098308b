#include "auth/role.h"

namespace signer::auth {

Roles Roles::all() {
  Roles roles;
  roles.add(Role::kIngest);
  roles.add(Role::kSign);
  roles.add(Role::kRead);
  return roles;
}

std::string Roles::to_string() const {
  std::string out;
  for (Role role : {Role::kIngest, Role::kSign, Role::kRead}) {
    if (!has(role)) continue;
    if (!out.empty()) out += ',';
    out += auth::to_string(role);
  }
  return out;
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::kIngest: return "ingest";
    case Role::kSign: return "sign";
    case Role::kRead: return "read";
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "ingest") return Role::kIngest;
  if (name == "sign") return Role::kSign;
  if (name == "read") return Role::kRead;
  return std::nullopt;
}

}  // namespace signer::auth
