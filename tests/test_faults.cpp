// Faults (issue 17): a thread that cannot be created, a job that throws, a disk that fills
// up, a signal in the middle of a write. Each ends with a clear error and leaves nothing
// behind: no hang, no std::terminate, no half-written file.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <system_error>
#include <thread>

#include "actors/actor_runtime.h"
#include "engine/thread_pool.h"
#include "engine/worker_team.h"
#include "model/atomic_output.h"
#include "model/gguf_writer.h"
#include "test_data.h"
#include "trace/chrome_trace.h"
#include "trace/trace_buffer.h"

using namespace actinfer;
using namespace actinfer::testing;

namespace {

// Starts the first `allowed` threads, then fails as std::thread does at a thread limit.
ThreadStarter failing_after(int allowed, std::shared_ptr<std::atomic<int>> started = std::make_shared<std::atomic<int>>(0)) {
  return [allowed, started](std::function<void()> body) {
    if (started->fetch_add(1) >= allowed)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread creation");
    return std::jthread(std::move(body));
  };
}

// Files in `dir` whose name starts with `stem` (the target and its temporaries).
int files_named(const std::filesystem::path& dir, const std::string& stem) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind(stem, 0) == 0) ++n;
  return n;
}

std::filesystem::path fresh_dir(const std::string& name) {
  const auto d = test_data_path(name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Runs `child` in a forked process; returns its exit status (or 128 + signal).
template <typename F>
int in_child(F child) {
  const pid_t pid = fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = child();
    } catch (...) {
      rc = 98;
    }
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

GgufWriter writer_of(size_t n_floats) {
  GgufWriter w;
  w.add_string("general.architecture", "test");
  std::vector<float> v(n_floats, 1.0f);
  w.add_tensor_f32("t", {static_cast<int64_t>(n_floats)}, v);
  return w;
}

}  // namespace

TEST_CASE("faults: a thread pool whose thread cannot be created throws, after stopping the others") {
  for (int allowed : {0, 1, 5}) {
    CAPTURE(allowed);
    auto fut = std::async(std::launch::async, [allowed] {
      try {
        ThreadPool pool(8, {}, failing_after(allowed));
      } catch (const std::runtime_error& e) {
        return std::string(e.what());
      }
      return std::string();
    });
    // Before the fix the unwinding joined workers that never stopped: a hang.
    REQUIRE(fut.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    const std::string err = fut.get();
    CHECK(err.find("cannot start compute thread " + std::to_string(allowed + 2) + " of 8") != std::string::npos);
    CHECK(err.find("ulimit -u") != std::string::npos);
  }
  ThreadPool ok(3, {}, failing_after(2));
  std::atomic<int> ran{0};
  ok.run([&](int, int) { ran.fetch_add(1); });
  CHECK(ran.load() == 3);
}

TEST_CASE("faults: a worker team reports thread-creation failures from its constructor") {
  // The lead thread itself, then a pool thread (before: std::terminate on the lead thread).
  CHECK_THROWS_WITH_AS(WorkerTeam(4, {}, {}, failing_after(0)), doctest::Contains("cannot start the lead thread"), std::runtime_error);
  CHECK_THROWS_WITH_AS(WorkerTeam(4, {}, {}, failing_after(2)), doctest::Contains("cannot start compute thread 3 of 4"), std::runtime_error);
}

TEST_CASE("faults: a job that throws reaches the team's error handler and the team goes on") {
  std::promise<std::string> error;
  WorkerTeam team(2, {}, [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      error.set_value(x.what());
    }
  });
  team.post([](ThreadPool&) { throw std::runtime_error("injected job failure"); });
  auto got = error.get_future();
  REQUIRE(got.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(got.get() == "injected job failure");
  std::promise<int> done;
  team.post([&](ThreadPool& pool) { done.set_value(pool.size()); });
  auto d = done.get_future();
  REQUIRE(d.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(d.get() == 2);
}

TEST_CASE("faults: compute threads beyond the machine's PUs are named, synthetic PUs get no threads") {
  const int pus = static_cast<int>(std::thread::hardware_concurrency());
  REQUIRE(pus > 0);
  CHECK(warn_if_oversubscribed(pus + 1, "a test"));
  CHECK_FALSE(warn_if_oversubscribed(pus, "a test"));
  // pack:64 core:64 pu:16 lists 65536 PUs per machine: the teams share the real ones.
  CHECK(synthetic_team_threads(65536, 1) == pus);
  CHECK(synthetic_team_threads(65536, 2 * pus) == 1);
  CHECK(synthetic_team_threads(2, 1) == std::min(2, pus));
}

TEST_CASE("faults: AtomicOutput renames a complete file into place and leaves nothing otherwise") {
  const auto dir = fresh_dir("atomic_out");
  const auto target = dir / "out.bin";
  {
    AtomicOutput out(target);
    CHECK(out.temp_path().parent_path() == dir);
    std::ofstream(out.temp_path()) << "new";
    CHECK_FALSE(std::filesystem::exists(target));
    out.commit();
  }
  CHECK(files_named(dir, "out.bin") == 1);
  {
    AtomicOutput abandoned(target);
    std::ofstream(abandoned.temp_path()) << "half";
  }
  CHECK(files_named(dir, "out.bin") == 1);
  std::ifstream in(target);
  std::string text;
  in >> text;
  CHECK(text == "new");
  CHECK_THROWS_WITH_AS(AtomicOutput(dir / "missing" / "x.bin"), doctest::Contains("cannot create a file in"), std::runtime_error);
}

TEST_CASE("faults: a full disk while writing a GGUF file gives an error and keeps the old file") {
  const auto dir = fresh_dir("disk_full");
  const auto target = dir / "model.gguf";
  writer_of(16).write(target);
  const auto old_size = std::filesystem::file_size(target);
  // RLIMIT_FSIZE stands for a full disk: writes past it fail with EFBIG (SIGXFSZ ignored).
  const int rc = in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{64 * 1024, 64 * 1024};
    setrlimit(RLIMIT_FSIZE, &lim);
    try {
      writer_of(1 << 20).write(target);
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find("failed") != std::string::npos ? 0 : 2;
    }
    return 1;
  });
  CHECK(rc == 0);
  CHECK(files_named(dir, "model.gguf") == 1);  // no temporary left
  CHECK(std::filesystem::file_size(target) == old_size);
}

TEST_CASE("faults: a full disk while writing a trace keeps the old trace") {
  const auto dir = fresh_dir("trace_full");
  const auto target = dir / "t.json";
  std::ofstream(target) << "old trace";
  const int rc = in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    std::vector<trace::TraceBuffer> buffers;
    buffers.emplace_back("a", "gpu-worker", true);
    for (int i = 0; i < 20000; ++i) buffers[0].record(trace::Span{"span", trace::SpanKind::Compute, i, i, i * 10, i * 10 + 5, 0});
    try {
      trace::write_chrome_trace(target, buffers);
    } catch (const std::runtime_error&) {
      return 0;
    }
    return 1;
  });
  CHECK(rc == 0);
  CHECK(files_named(dir, "t.json") == 1);
  std::ifstream in(target);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all == "old trace");
}

TEST_CASE("faults: SIGTERM in the middle of a write removes the temporary") {
  const auto dir = fresh_dir("signal_out");
  const auto target = dir / "model.gguf";
  const int rc = in_child([&] {
    // What tools/interrupt.cpp installs: unlink the pending outputs, then die of the signal.
    struct sigaction sa {};
    sa.sa_handler = [](int sig) {
      unlink_pending_outputs();
      std::signal(sig, SIG_DFL);
      std::raise(sig);
    };
    sigaction(SIGTERM, &sa, nullptr);
    AtomicOutput out(target);
    std::ofstream(out.temp_path()) << "partial";
    std::raise(SIGTERM);
    return 0;
  });
  CHECK(rc == 128 + SIGTERM);
  CHECK(files_named(dir, "model.gguf") == 0);
}
