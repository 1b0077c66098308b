// The names of the service's metrics, declared in one place so /metrics, the code that reports
// and the tests agree. Every name is prefixed signer_.
#pragma once

#include "metrics/registry.h"

namespace signer::metrics {

inline constexpr const char* kBuildInfo = "signer_build_info";
inline constexpr const char* kRecordsSigned = "signer_records_signed_total";
inline constexpr const char* kRecordsAlreadySigned = "signer_records_already_signed_total";
inline constexpr const char* kBatchesRun = "signer_batches_run_total";
inline constexpr const char* kBatchDuration = "signer_batch_duration_seconds";
inline constexpr const char* kBatchErrors = "signer_batch_errors_total";
inline constexpr const char* kStoreLatency = "signer_store_operation_seconds";
inline constexpr const char* kStoreErrors = "signer_store_errors_total";
inline constexpr const char* kJobRunning = "signer_job_running";
inline constexpr const char* kJobBatchesTotal = "signer_job_batches";
inline constexpr const char* kJobBatchesDone = "signer_job_batches_done";
inline constexpr const char* kJobBatchesFailed = "signer_job_batches_failed";
inline constexpr const char* kJobBatchRetries = "signer_job_batch_retries_total";
inline constexpr const char* kJobRecordsSigned = "signer_job_records_signed";
inline constexpr const char* kJobsTotal = "signer_jobs_total";
inline constexpr const char* kHttpRequests = "signer_http_requests_total";
inline constexpr const char* kHttpRejected = "signer_http_rejected_total";
inline constexpr const char* kAuthRefusals = "signer_auth_refusals_total";
inline constexpr const char* kInsecureNoAuth = "signer_insecure_no_auth";
inline constexpr const char* kTlsReloads = "signer_tls_reloads_total";
inline constexpr const char* kKeysLoaded = "signer_keys_loaded";
inline constexpr const char* kKeySetVersion = "signer_key_set_version";
inline constexpr const char* kKeyReloads = "signer_key_reloads_total";
inline constexpr const char* kClientsLoaded = "signer_clients_loaded";
inline constexpr const char* kClientsReloads = "signer_clients_reloads_total";

// Declares all of the above in `registry`.
void declare_signer_metrics(Registry& registry);

}  // namespace signer::metrics
