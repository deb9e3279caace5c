#include "metrics_scrape.hpp"

#include <curl/curl.h>

#include <chrono>
#include <cmath>
#include <cstdlib>

namespace troupe::host {

namespace {

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

bool parse_labels(const std::string& text, std::size_t& i, std::map<std::string, std::string>& out) {
  // text[i] is just after '{'.
  while (i < text.size() && text[i] != '}') {
    auto eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"')
      return false;
    std::string key = text.substr(i, eq - i);
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size())
      return false;
    out.emplace(std::move(key), std::move(value));
    i = j + 1;
    if (i < text.size() && text[i] == ',')
      ++i;
  }
  if (i >= text.size())
    return false;
  ++i; // '}'
  return true;
}

} // namespace

double scrape::sum(const std::string& name, const std::map<std::string, std::string>& match) const {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name)
      continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        all = false;
        break;
      }
    }
    if (all)
      total += s.value;
  }
  return total;
}

std::vector<sample> parse_exposition(const std::string& text) {
  std::vector<sample> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#')
      continue;
    sample s;
    std::size_t i = line.find_first_of("{ ");
    if (i == std::string::npos)
      continue;
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      if (!parse_labels(line, i, s.labels))
        continue;
    }
    while (i < line.size() && line[i] == ' ')
      ++i;
    auto value = line.substr(i, line.find(' ', i) - i);
    if (value == "+Inf")
      s.value = HUGE_VAL;
    else if (value == "-Inf")
      s.value = -HUGE_VAL;
    else
      s.value = std::strtod(value.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<scrape> fetch_metrics(const std::string& target, long timeout_ms,
                                    std::string& error) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    error = "cannot start libcurl";
    return std::nullopt;
  }
  std::string url = "http://" + target + "/metrics";
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, ""); // loopback and cluster addresses: never a proxy
  auto rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    error = curl_easy_strerror(rc);
    return std::nullopt;
  }
  if (status != 200) {
    error = "HTTP " + std::to_string(status) + " from " + url;
    return std::nullopt;
  }
  scrape s;
  s.samples = parse_exposition(body);
  s.at = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return s;
}

} // namespace troupe::host
