#pragma once

// The host's /metrics endpoint: a small embedded HTTP server (civetweb) on
// its own thread, so a scrape never takes a gRPC lane or a CAF worker. It
// reads the pipeline's counters and the services' registry as they are.

#include <functional>
#include <string>

struct mg_context;
struct mg_connection;

namespace troupe::rt::detail {

class metrics_server {
public:
  /// Writes the whole exposition into its argument.
  using render_fn = std::function<void(std::string&)>;

  metrics_server() = default;
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// Listens on `address` ("host:port", port 0 picks one). Returns the port,
  /// or 0 with `error` set.
  int start(const std::string& address, render_fn render, std::string& error);
  void stop();

private:
  static int handle(mg_connection* conn, void* self);

  render_fn render_;
  mg_context* ctx_ = nullptr;
};

} // namespace troupe::rt::detail
