// The blocking example through the real host, with a small pool. The slow
// jobs read FIFOs: a job blocks in open() until the test writes to its FIFO,
// so the test, not a timer, decides how long the pool stays busy.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <future>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "blocking/v1/blocking.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = blocking::v1;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using troupe::rt::testing::host_process;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char name[] = "/tmp/blocking-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~temp_dir() { std::system(("rm -rf " + path).c_str()); }
  std::string fifo(const std::string& name) const {
    auto p = path + "/" + name;
    REQUIRE(mkfifo(p.c_str(), 0600) == 0);
    return p;
  }
};

struct digest_result {
  grpc::Status status;
  v1::DigestReply reply;
  std::string pushback;
};

digest_result digest(v1::Digester::Stub& stub, const std::string& path,
                     std::chrono::milliseconds deadline = 20s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  v1::DigestRequest req;
  req.set_path(path);
  digest_result r;
  r.status = stub.Digest(&ctx, req, &r.reply);
  auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find("grpc-retry-pushback-ms"); it != trailers.end())
    r.pushback.assign(it->second.data(), it->second.size());
  return r;
}

// A 1 s deadline: the actor answering it must not be waiting for any job.
v1::PoolStatusReply pool_status(v1::Digester::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1s);
  v1::PoolStatusReply reply;
  auto status = stub.PoolStatus(&ctx, v1::PoolStatusRequest{}, &reply);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return reply;
}

v1::PoolStatusReply pool_when(v1::Digester::Stub& stub,
                              std::function<bool(const v1::PoolStatusReply&)> ok) {
  auto until = clock_type::now() + 10s;
  auto s = pool_status(stub);
  while (!ok(s) && clock_type::now() < until) {
    std::this_thread::sleep_for(10ms);
    s = pool_status(stub);
  }
  return s;
}

// Waits (up to 10 s) for a reader to open the FIFO, then feeds it `content`
// and closes it, which ends that reader's job.
void release(const std::string& fifo, const std::string& content) {
  auto until = clock_type::now() + 10s;
  int fd = -1;
  while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) < 0 && errno == ENXIO
         && clock_type::now() < until)
    std::this_thread::sleep_for(5ms);
  REQUIRE(fd >= 0);
  fcntl(fd, F_SETFL, 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
}

bool has_reader(const std::string& fifo) {
  int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (fd >= 0)
    ::close(fd);
  return fd >= 0;
}

} // namespace

TEST_CASE("Digest hashes a large file, and names a missing one") {
  host_process host{BLOCKING_BINARY};
  auto stub = v1::Digester::NewStub(host.channel());
  temp_dir dir;
  auto path = dir.path + "/big";
  {
    std::ofstream out(path);
    for (int i = 0; i < 300000; ++i)
      out << "line " << i << "\n";
  }
  auto r = digest(*stub, path);
  REQUIRE(r.status.ok());
  CHECK(r.reply.bytes() == 3488890);
  CHECK(r.reply.fnv1a64() == 0x797226b41473410bULL);

  auto missing = digest(*stub, dir.path + "/missing");
  CHECK(missing.status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(missing.status.error_message() == dir.path + "/missing: No such file or directory");
}

TEST_CASE("with every blocking thread stuck, the actor still answers and a full queue sheds") {
  host_process host{BLOCKING_BINARY,
                    {"--runtime-blocking-threads", "2", "--runtime-blocking-queue", "1"}};
  auto stub = v1::Digester::NewStub(host.channel());
  temp_dir dir;
  std::vector<std::string> fifos{dir.fifo("a"), dir.fifo("b"), dir.fifo("c")};

  std::vector<std::future<digest_result>> jobs;
  for (int i = 0; i < 2; ++i)
    jobs.push_back(std::async(std::launch::async, [&, i] { return digest(*stub, fifos[i]); }));
  REQUIRE(pool_when(*stub, [](auto& p) { return p.running() == 2; }).running() == 2);
  jobs.push_back(std::async(std::launch::async, [&] { return digest(*stub, fifos[2]); }));
  REQUIRE(pool_when(*stub, [](auto& p) { return p.queued() == 1; }).queued() == 1);

  // Two running, one waiting: the next is refused at once, with pushback.
  auto began = clock_type::now();
  auto refused = digest(*stub, "/etc/hostname");
  CHECK(clock_type::now() - began < 1s);
  CHECK(refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(refused.status.error_message()
        == "all 2 blocking threads are busy and 1 jobs wait "
           "(runtime.blocking_threads, runtime.blocking_queue)");
  CHECK(refused.pushback == "500");

  // The same actor that handed the jobs out answers while they block.
  auto busy = pool_status(*stub);
  CHECK(busy.threads() == 2);
  CHECK(busy.running() == 2);
  CHECK(busy.queued() == 1);
  CHECK(busy.completed() == 0);

  // The queued job starts (opens "c") only once a thread is free.
  release(fifos[0], "a");
  release(fifos[1], "b");
  release(fifos[2], "c");
  const std::uint64_t expected[] = {0xaf63dc4c8601ec8cULL, 0xaf63df4c8601f1a5ULL,
                                    0xaf63de4c8601eff2ULL};
  for (int i = 0; i < 3; ++i) {
    INFO("job " << i);
    auto r = jobs[i].get();
    REQUIRE(r.status.ok());
    CHECK(r.reply.bytes() == 1);
    CHECK(r.reply.fnv1a64() == expected[i]);
  }
}

TEST_CASE("a queued job whose call ended is skipped, never started") {
  host_process host{BLOCKING_BINARY,
                    {"--runtime-blocking-threads", "1", "--runtime-blocking-queue", "1"}};
  auto stub = v1::Digester::NewStub(host.channel());
  temp_dir dir;
  auto held = dir.fifo("held");
  auto never = dir.fifo("never");

  auto first = std::async(std::launch::async, [&] { return digest(*stub, held); });
  REQUIRE(pool_when(*stub, [](auto& p) { return p.running() == 1; }).running() == 1);
  auto late = digest(*stub, never, 500ms);
  CHECK(late.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);

  release(held, "a");
  CHECK(first.get().status.ok());
  auto s = pool_when(*stub, [](auto& p) { return p.completed() + p.skipped() == 2; });
  CHECK(s.completed() == 1);
  CHECK(s.skipped() == 1);
  CHECK_FALSE(has_reader(never));
}
