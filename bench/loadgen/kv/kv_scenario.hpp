#pragma once

#include <memory>
#include <string>

#include "options.hpp"

namespace troupe::loadgen {

class scenario;

/// kv-get, kv-put or kv-mixed from `o`; nullptr for another name.
std::unique_ptr<scenario> make_kv_scenario(const options& o);

/// Puts every key of the key space once, each exactly once over the run.
std::unique_ptr<scenario> make_kv_populate(const options& o);

bool is_kv_scenario(const std::string& name);

} // namespace troupe::loadgen
