// Watching the files a running service loaded its configuration from (the key set, the clients
// file), so that a change reloads it without a restart. Kubernetes updates a mounted Secret by
// swapping a symlink; a file counts as changed when the file its path resolves to has another
// device, inode, size or modification time, or appears or disappears.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace signer::reload {

// A fingerprint of `paths` as they are now (what a change compares). A missing file has one too.
std::string files_fingerprint(const std::vector<std::filesystem::path>& paths);

}  // namespace signer::reload
