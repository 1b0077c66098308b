// The current key set of a running signer, and its reloads (reload/reloadable.h): a reload
// (SIGHUP, or a change to any file the set was loaded from) loads and checks a whole new set before
// swapping it in; one that fails keeps the old set and says why (status(), for /readyz and
// /metrics). Jobs hold the set they started with (a shared_ptr), so a running job is never
// touched; new jobs take current(). The set before the current one stays findable by public key
// (find_set_with) until the next reload, so a batch a peer pod sends for a job it started before
// its own reload is still signed with the job's key.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_set.h"
#include "reload/reloadable.h"

namespace signer::keys {

class KeySetHolder {
 public:
  // A loaded set and the files it was loaded from (whose change calls for a reload).
  struct Loaded {
    std::shared_ptr<const KeySet> set;
    std::vector<std::filesystem::path> files;
  };
  // Loads a set with the given version; throws (anything derived from std::exception) on failure.
  using Loader = std::function<Loaded(std::uint64_t version)>;
  using Status = reload::ReloadStatus;  // items: the keys of the current set

  // Loads version 1 through `loader`; a failure propagates (a signer without keys does not
  // start). A reload to a set without keys is refused.
  explicit KeySetHolder(Loader loader);

  // The set new jobs sign with.
  std::shared_ptr<const KeySet> current() const { return sets_.current(); }

  // The current set when it holds `selector` (index, public key or address), else the previous
  // one when that does; nullptr when neither does.
  std::shared_ptr<const KeySet> find_set_with(std::string_view selector) const;

  Status status() const { return sets_.status(); }

  // Loads a new set and swaps it in. Returns "" on success, else the reason (the old set stays).
  std::string reload(std::string_view why) { return sets_.reload(why); }

  // Reloads whenever a file of the current set changes (checked every `interval`: the file each
  // path resolves to, so a swapped Secret symlink counts).
  void watch(std::chrono::milliseconds interval) { sets_.watch(interval); }

 private:
  reload::Reloadable<KeySet> sets_;
};

}  // namespace signer::keys
