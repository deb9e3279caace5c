#include "service_list.hpp"

#include "fanin/fanin_module.hpp"
#include "kv/kv_module.hpp"

namespace troupe::host {

std::vector<std::unique_ptr<rt::service_module>> make_services() {
  std::vector<std::unique_ptr<rt::service_module>> out;
  out.push_back(kv::make_kv_module());
  out.push_back(fanin::make_fanin_module());
  return out;
}

} // namespace troupe::host
