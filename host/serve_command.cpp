#include "commands.hpp"
#include "service_list.hpp"
#include "troupe/rt/host.hpp"

namespace troupe::host {

int serve_command(const args& a) {
  return rt::serve(a, make_services());
}

} // namespace troupe::host
