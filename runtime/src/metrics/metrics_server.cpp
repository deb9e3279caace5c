#include "metrics/metrics_server.hpp"

#include <civetweb.h>

#include <cstring>

namespace troupe::rt::detail {

namespace {

// civetweb reports bind errors through log_message; keep the last one.
thread_local std::string last_civetweb_error;

int on_log(const mg_connection*, const char* message) {
  last_civetweb_error = message;
  return 1; // handled: nothing on stderr, the host logs it its own way
}

} // namespace

metrics_server::~metrics_server() {
  stop();
}

int metrics_server::start(const std::string& address, render_fn render, std::string& error) {
  render_ = std::move(render);
  // One worker is plenty for scrapes and keeps the thread count honest;
  // civetweb's own listener thread makes two.
  const char* options[] = {"listening_ports", address.c_str(),
                           "num_threads",     "2",
                           "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes",
                           nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof callbacks);
  callbacks.log_message = &on_log;
  last_civetweb_error.clear();
  ctx_ = mg_start(&callbacks, this, options);
  if (ctx_ == nullptr) {
    error = last_civetweb_error.empty() ? "cannot listen" : last_civetweb_error;
    return 0;
  }
  mg_set_request_handler(ctx_, "/metrics$", &metrics_server::handle, this);
  mg_server_port ports[4];
  std::memset(ports, 0, sizeof ports);
  int n = mg_get_server_ports(ctx_, 4, ports);
  if (n < 1) {
    stop();
    error = "no listening port";
    return 0;
  }
  return ports[0].port;
}

void metrics_server::stop() {
  if (ctx_ != nullptr) {
    mg_stop(ctx_);
    ctx_ = nullptr;
  }
}

int metrics_server::handle(mg_connection* conn, void* self) {
  const auto* info = mg_get_request_info(conn);
  if (std::strcmp(info->request_method, "GET") != 0
      && std::strcmp(info->request_method, "HEAD") != 0) {
    mg_printf(conn, "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                    "Content-Length: 0\r\n\r\n");
    return 405;
  }
  std::string body;
  body.reserve(64 * 1024);
  static_cast<metrics_server*>(self)->render_(body);
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: %zu\r\n\r\n",
            body.size());
  if (std::strcmp(info->request_method, "GET") == 0)
    mg_write(conn, body.data(), body.size());
  return 200;
}

} // namespace troupe::rt::detail
