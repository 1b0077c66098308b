#include "metrics/signer_metrics.h"

namespace signer::metrics {

void declare_signer_metrics(Registry& r) {
  using T = Registry::Type;
  const std::vector<double> seconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,  5,     10,   30,  60,   300};
  r.declare(kBuildInfo, T::kGauge,
            "Always 1; its labels name the signer version and the libsecp256k1 it signs with.");
  r.declare(kRecordsSigned, T::kCounter, "Records signed by this process, per key and pod.");
  r.declare(kRecordsAlreadySigned, T::kCounter,
            "Records found already signed during a move (completed an interrupted move).");
  r.declare(kBatchesRun, T::kCounter, "Batches run by this process (pod), by outcome.");
  r.declare(kBatchDuration, T::kHistogram, "Wall time of one batch on this process.", seconds);
  r.declare(kBatchErrors, T::kCounter, "Batches that failed on this process, by error kind.");
  r.declare(kStoreLatency, T::kHistogram, "Latency of store operations, by operation.",
            {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5});
  r.declare(kStoreErrors, T::kCounter, "Store operations that failed, by operation and kind.");
  r.declare(kJobRunning, T::kGauge, "1 while a signing job coordinated by this process runs.");
  r.declare(kJobBatchesTotal, T::kGauge, "Batches planned in the current or last job.");
  r.declare(kJobBatchesDone, T::kGauge, "Batches finished in the current or last job.");
  r.declare(kJobBatchesFailed, T::kGauge, "Batches that failed after all retries.");
  r.declare(kJobBatchRetries, T::kCounter, "Batch attempts retried by the coordinator.");
  r.declare(kJobRecordsSigned, T::kGauge, "Records signed in the current or last job.");
  r.declare(kJobsTotal, T::kCounter, "Jobs coordinated by this process, by outcome.");
  r.declare(kHttpRequests, T::kCounter, "HTTP requests, by route and status code.");
  r.declare(kHttpRejected, T::kCounter,
            "Requests refused before they ran (backpressure, auth, Host, Origin, body framing or "
            "type), by route and reason.");
  r.declare(kAuthRefusals, T::kCounter,
            "Requests refused for a missing or unknown credential (401) or a missing role (403).");
  r.declare(kInsecureNoAuth, T::kGauge,
            "1 when serve runs with --insecure-no-auth on a non-loopback address.");
  r.declare(kTlsReloads, T::kCounter, "TLS certificate reloads (SIGHUP), by outcome.");
  r.declare(kKeysLoaded, T::kGauge,
            "Keys in the current key set, by source (csv, keystore, pkcs11).");
  r.declare(kKeySetVersion, T::kGauge,
            "Version of the current key set: 1 at start, +1 per reload.");
  r.declare(kKeyReloads, T::kCounter,
            "Key set reloads (SIGHUP or changed key files), by outcome (ok, failed).");
  r.declare(kClientsLoaded, T::kGauge, "Clients in the current clients file.");
  r.declare(kClientsReloads, T::kCounter,
            "Clients file reloads (SIGHUP or a changed file), by outcome (ok, failed).");
}

}  // namespace signer::metrics
