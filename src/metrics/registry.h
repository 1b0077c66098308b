// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Thread-safe; updates are per chunk or per request, never per
// record, so one mutex is cheap enough. A leaf module: signing, store and http all report here.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace signer::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Declares a metric family. Histograms take their upper bucket bounds (ascending, no +Inf).
  // Re-declaring a name is a no-op. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
  void declare(std::string name, Type type, std::string help, std::vector<double> buckets = {});

  // Adds `delta` (>= 0) to a counter. Undeclared names are ignored.
  void increment(std::string_view name, const Labels& labels = {}, double delta = 1);
  // Sets a gauge.
  void set(std::string_view name, const Labels& labels, double value);
  // Records one observation in a histogram.
  void observe(std::string_view name, const Labels& labels, double value);

  // Returns the current value of a counter or gauge series (0 when absent). For tests and /stats.
  double value(std::string_view name, const Labels& labels = {}) const;

  // Renders every family in Prometheus text format.
  std::string render() const;

 private:
  struct Series {
    double value = 0;
    std::vector<unsigned long long> bucket_counts;
    double sum = 0;
    unsigned long long count = 0;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, Series> series;  // key: rendered label set "{a="b",…}"
  };
  static std::string label_key(const Labels& labels);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace signer::metrics
