#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

#include "metrics/text_format.hpp"
#include "troupe/rt/metrics.hpp"

namespace troupe::rt::metrics {

using detail::append_label_value;
using detail::append_number;
using detail::write_header;

// -- histogram ----------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("histogram bounds must be ascending");
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double value) noexcept {
  auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
  if (value > 0)
    sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(value * 1e6)),
                          std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = {
    0,     0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004,
    0.005, 0.006,   0.008,   0.01,   0.013,  0.016,  0.02,   0.025, 0.03,  0.04,  0.05,
    0.065, 0.08,    0.1,     0.13,   0.16,   0.2,    0.25,   0.3,   0.4,   0.5,   0.65,
    0.8,   1,       2,       5,      10,     20,     50,     100,
  };
  return b;
}

const std::vector<double>& size_buckets() {
  static const std::vector<double> b = {
    0,       1024,     2048,      4096,      16384,      65536,      262144,
    1048576, 4194304,  16777216,  67108864,  268435456,  1073741824, 4294967296,
  };
  return b;
}

// -- registry -----------------------------------------------------------------

namespace {

enum kind { counter_kind, gauge_kind, histogram_kind };

const char* type_name(int k) {
  switch (k) {
    case counter_kind:
      return "counter";
    case gauge_kind:
      return "gauge";
    default:
      return "histogram";
  }
}

bool valid_name(const std::string& name) {
  if (name.empty())
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
              || (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

std::string label_text(const labels& l) {
  std::string out;
  for (const auto& [k, v] : l) {
    if (!valid_name(k) || k.find(':') != std::string::npos)
      throw std::invalid_argument("metric label name '" + k + "' is not a valid name");
    if (!out.empty())
      out += ',';
    out += k;
    out += "=\"";
    append_label_value(out, v);
    out += '"';
  }
  return out;
}

} // namespace

struct registry::family {
  std::string name;
  std::string help;
  int kind = counter_kind;
  struct series {
    std::string labels; // rendered: a="x",b="y"
    std::variant<std::unique_ptr<metrics::counter>, std::unique_ptr<metrics::gauge>,
                 std::unique_ptr<metrics::histogram>, std::function<double()>>
      value;
  };
  std::vector<series> all;

  series* find(const std::string& labels) {
    for (auto& s : all)
      if (s.labels == labels)
        return &s;
    return nullptr;
  }
};

registry::registry() = default;
registry::~registry() = default;

registry::family& registry::family_of(const std::string& name, const std::string& help,
                                      int kind) {
  if (!valid_name(name))
    throw std::invalid_argument("metric name '" + name + "' is not a valid Prometheus name");
  for (auto& f : families_)
    if (f->name == name) {
      if (f->kind != kind)
        throw std::invalid_argument("metric " + name + " is a " + type_name(f->kind)
                                    + ", registered again as a " + type_name(kind));
      return *f;
    }
  auto f = std::make_unique<family>();
  f->name = name;
  f->help = help;
  f->kind = kind;
  families_.push_back(std::move(f));
  return *families_.back();
}

metrics::counter& registry::counter(const std::string& name, const std::string& help, const labels& l) {
  auto text = label_text(l);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = family_of(name, help, counter_kind);
  if (auto* s = f.find(text))
    return *std::get<std::unique_ptr<metrics::counter>>(s->value);
  f.all.push_back({text, std::make_unique<metrics::counter>()});
  return *std::get<std::unique_ptr<metrics::counter>>(f.all.back().value);
}

metrics::gauge& registry::gauge(const std::string& name, const std::string& help, const labels& l) {
  auto text = label_text(l);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = family_of(name, help, gauge_kind);
  if (auto* s = f.find(text))
    if (auto* g = std::get_if<std::unique_ptr<metrics::gauge>>(&s->value))
      return **g;
  f.all.push_back({text, std::make_unique<metrics::gauge>()});
  return *std::get<std::unique_ptr<metrics::gauge>>(f.all.back().value);
}

metrics::histogram& registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& bounds, const labels& l) {
  auto text = label_text(l);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = family_of(name, help, histogram_kind);
  if (auto* s = f.find(text))
    return *std::get<std::unique_ptr<metrics::histogram>>(s->value);
  f.all.push_back({text, std::make_unique<metrics::histogram>(bounds)});
  return *std::get<std::unique_ptr<metrics::histogram>>(f.all.back().value);
}

void registry::gauge_fn(const std::string& name, const std::string& help, const labels& l,
                        std::function<double()> read) {
  auto text = label_text(l);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = family_of(name, help, gauge_kind);
  if (auto* s = f.find(text)) {
    s->value = std::move(read);
    return;
  }
  f.all.push_back({text, std::move(read)});
}

void registry::write_text(std::string& out) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& f : families_) {
    write_header(out, f->name, type_name(f->kind), f->help);
    for (const auto& s : f->all) {
      auto with = [&](const std::string& suffix, const std::string& extra) {
        out += f->name;
        out += suffix;
        if (!s.labels.empty() || !extra.empty()) {
          out += '{';
          out += s.labels;
          if (!s.labels.empty() && !extra.empty())
            out += ',';
          out += extra;
          out += '}';
        }
        out += ' ';
      };
      if (const auto* c = std::get_if<std::unique_ptr<metrics::counter>>(&s.value)) {
        with("", "");
        append_number(out, (*c)->value());
      } else if (const auto* g = std::get_if<std::unique_ptr<metrics::gauge>>(&s.value)) {
        with("", "");
        append_number(out, (*g)->value());
      } else if (const auto* fn = std::get_if<std::function<double()>>(&s.value)) {
        with("", "");
        append_number(out, (*fn)());
      } else {
        const auto& h = *std::get<std::unique_ptr<metrics::histogram>>(s.value);
        auto snap = h.read();
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
          std::string le = "le=\"";
          if (i < h.bounds().size())
            append_number(le, h.bounds()[i]);
          else
            le += "+Inf";
          le += '"';
          with("_bucket", le);
          append_number(out, snap.cumulative[i]);
          out += '\n';
        }
        with("_sum", "");
        append_number(out, snap.sum);
        out += '\n';
        with("_count", "");
        append_number(out, snap.count);
      }
      out += '\n';
    }
  }
}

} // namespace troupe::rt::metrics
