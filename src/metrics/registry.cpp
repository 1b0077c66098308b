#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace signer::metrics {
namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

// Joins a label key "{a="b"}" with one more label, for histogram buckets.
std::string with_label(const std::string& key, const std::string& extra) {
  if (key.empty()) return "{" + extra + "}";
  return key.substr(0, key.size() - 1) + "," + extra + "}";
}

}  // namespace

std::string Registry::label_key(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += escape_label(labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

void Registry::declare(std::string name, Type type, std::string help, std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  families_.try_emplace(std::move(name), Family{type, std::move(help), std::move(buckets), {}});
}

void Registry::increment(std::string_view name, const Labels& labels, double delta) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  it->second.series[label_key(labels)].value += delta;
}

void Registry::set(std::string_view name, const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  it->second.series[label_key(labels)].value = value;
}

void Registry::observe(std::string_view name, const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  Family& family = it->second;
  Series& s = family.series[label_key(labels)];
  if (s.bucket_counts.size() != family.buckets.size())
    s.bucket_counts.assign(family.buckets.size(), 0);
  for (std::size_t i = 0; i < family.buckets.size(); ++i) {
    if (value <= family.buckets[i]) ++s.bucket_counts[i];
  }
  s.sum += value;
  ++s.count;
}

double Registry::value(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(label_key(labels));
  return s == it->second.series.end() ? 0 : s->second.value;
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter ? "counter"
                       : family.type == Type::kGauge ? "gauge"
                                                     : "histogram";
    out += "# HELP " + name + " " + family.help + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const auto& [key, s] : family.series) {
      if (family.type != Type::kHistogram) {
        out += name + key + " " + format_number(s.value) + "\n";
        continue;
      }
      for (std::size_t i = 0; i < family.buckets.size(); ++i) {
        const unsigned long long c = i < s.bucket_counts.size() ? s.bucket_counts[i] : 0;
        out += name + "_bucket" +
               with_label(key, "le=\"" + format_number(family.buckets[i]) + "\"") + " " +
               std::to_string(c) + "\n";
      }
      out +=
          name + "_bucket" + with_label(key, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
      out += name + "_sum" + key + " " + format_number(s.sum) + "\n";
      out += name + "_count" + key + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace signer::metrics
