// `troupe top`: a live view of running hosts, read from their /metrics.

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "metrics_scrape.hpp"
#include "top_view.hpp"

namespace troupe::host {

namespace {

constexpr const char* usage =
  "usage: troupe top [--target HOST:PORT ...] [--interval-ms N] [--once]\n"
  "  --target       a host's metrics address (metrics.listen), once per replica\n"
  "                 (default 127.0.0.1:9464)\n"
  "  --interval-ms  refresh period (1000)\n"
  "  --once         print one view, measured over one period, and exit\n";

std::size_t terminal_width() {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0)
    return w.ws_col;
  return 160;
}

std::vector<std::optional<scrape>> scrape_all(const std::vector<std::string>& targets,
                                              long timeout_ms, std::vector<std::string>& errors) {
  std::vector<std::optional<scrape>> out(targets.size());
  std::vector<std::thread> readers;
  errors.assign(targets.size(), "");
  // One thread per host: a replica that hangs does not hold up the others.
  for (std::size_t i = 0; i < targets.size(); ++i)
    readers.emplace_back([&, i] { out[i] = fetch_metrics(targets[i], timeout_ms, errors[i]); });
  for (auto& t : readers)
    t.join();
  return out;
}

} // namespace

int top_command(const args& a) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);

  std::vector<std::string> targets;
  std::uint64_t interval_ms = 1000;
  auto parsed = parse_flags(a, {"--once", "--help"});
  bool once = false;
  for (auto& [flag, value] : parsed.flags) {
    if (flag == "--target") {
      targets.push_back(value);
    } else if (flag == "--interval-ms") {
      if (!to_u64(value, interval_ms) || interval_ms < 100 || interval_ms > 3'600'000) {
        std::fprintf(stderr, "troupe top: --interval-ms: expected 100 to 3600000, got '%s'\n",
                     value.c_str());
        return 2;
      }
    } else if (flag == "--help") {
      std::fputs(usage, stdout);
      return 0;
    } else if (flag == "--once") {
      once = value != "false";
    } else {
      std::fprintf(stderr, "troupe top: unknown flag %s\n%s", flag.c_str(), usage);
      return 2;
    }
  }
  if (!parsed.positional.empty()) {
    std::fprintf(stderr, "troupe top: unexpected argument '%s'\n%s",
                 parsed.positional[0].c_str(), usage);
    return 2;
  }
  if (targets.empty())
    targets.push_back("127.0.0.1:9464");
  auto interval = std::chrono::milliseconds(interval_ms);
  long timeout_ms = static_cast<long>(std::max<std::uint64_t>(interval_ms, 1000));
  bool live = !once && isatty(STDOUT_FILENO);

  std::vector<std::string> errors;
  auto before = scrape_all(targets, timeout_ms, errors);
  for (;;) {
    auto next = std::chrono::steady_clock::now() + interval;
    std::this_thread::sleep_until(next);
    auto now = scrape_all(targets, timeout_ms, errors);
    std::vector<host_view> views;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (!now[i] || !before[i]) {
        host_view v;
        v.target = targets[i];
        v.error = errors[i].empty() ? "no earlier scrape yet" : errors[i];
        views.push_back(std::move(v));
        continue;
      }
      views.push_back(view_between(targets[i], *before[i], *now[i]));
    }
    auto screen = render(views, static_cast<double>(interval_ms) / 1000, terminal_width());
    if (live)
      std::fputs("\x1b[H\x1b[2J", stdout); // home, clear: redraw in place
    std::fputs(screen.c_str(), stdout);
    std::fflush(stdout);
    if (once) {
      bool any = false;
      for (const auto& v : views)
        any = any || v.error.empty();
      return any ? 0 : 1;
    }
    before = std::move(now);
  }
}

} // namespace troupe::host
