#include "service_list.hpp"

#include "fanin/fanin_service.hpp"
#include "kv/kv_service.hpp"

namespace troupe::host {

rt::service_list make_services() {
  rt::service_list out;
  out.push_back(kv::make_kv_service());
  out.push_back(fanin::make_fanin_service());
  return out;
}

} // namespace troupe::host
