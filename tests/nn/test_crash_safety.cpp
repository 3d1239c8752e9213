// Crash safety of checkpoints: a child process is killed (SIGKILL) while it writes with nn::save,
// deterministically at each stage of the writer (XGRAD_TEST_CRASH_AT, see nn/serialize.cpp) and
// at random moments; the previous checkpoint must stay intact, no partial file may load as valid,
// and a new save must succeed afterwards.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;
namespace fs = std::filesystem;

namespace {

struct CrashDir {
  fs::path dir;
  CrashDir() {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("xgrad_test_crash_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~CrashDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  /// The temporary files nn::save left behind (".<name>.tmp-...").
  std::vector<std::string> temps() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().find(".tmp-") != std::string::npos)
        out.push_back(e.path().string());
    return out;
  }
};

/// Runs `body` in a forked child and returns how the child ended: the signal that killed it, or
/// -(exit status) if it exited. `body` never returns normally in the child (the child _exits).
int in_child(const std::function<void()>& body, const std::function<void(pid_t)>& parent = {}) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  if (parent) parent(pid);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

/// Same dtype, shape and bytes.
template <class T>
bool same_as(const Tensor& a, const Tensor& b) {
  const std::vector<T> x = a.to_vector<T>(), y = b.to_vector<T>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}
bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() == Dtype::float32) return same_as<float>(a, b);
  if (a.dtype() == Dtype::float64) return same_as<double>(a, b);
  return same_as<int64_t>(a, b);
}

/// Version `v` of a "model": tensors whose every element is determined by v, and v in the
/// metadata, so that a loaded file can be checked to be one whole version.
nn::NamedTensors version(int v, std::size_t rows) {
  return {{"a.weight", full({rows, 1024}, v + 0.25)},
          {"b.weight", full({rows, 1024}, v + 0.5, Dtype::float64)},
          {"c.steps", full({rows}, v, Dtype::int64)},
          {"d.bias", full({7}, -v)}};
}

/// The version a checkpoint holds, after checking every element agrees with it.
int version_of(const nn::Checkpoint& ck, std::size_t rows) {
  const int v = std::stoi(ck.metadata.at("version"));
  const nn::NamedTensors want = version(v, rows);
  REQUIRE(ck.tensors.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(ck.tensors[i].first == want[i].first);
    CHECK(ck.tensors[i].second.shape() == want[i].second.shape());
    CHECK(ck.tensors[i].second.dtype() == want[i].second.dtype());
    CHECK(identical(ck.tensors[i].second, want[i].second));
  }
  return v;
}

void save_version(int v, const std::string& path, std::size_t rows) {
  nn::save(version(v, rows), path, {{"version", std::to_string(v)}});
}

}  // namespace

TEST_CASE("crash safety: SIGKILL at each stage of nn::save keeps the previous checkpoint") {
  CrashDir tmp;
  const std::string path = tmp / "model.safetensors";
  manual_seed(21);
  nn::MLP old_model({784, 64, 10});
  nn::save(old_model, path, {{"epoch", "1"}});
  manual_seed(22);
  nn::MLP new_model({784, 64, 10});
  // Each stage: (does the target hold the new model afterwards, is a temp file left, does that
  // temp file hold a whole checkpoint).
  struct Stage {
    const char* name;
    bool target_new, temp_left, temp_whole;
  };
  const Stage stages[] = {{"created", false, true, false},
                          {"mid_data", false, true, false},
                          {"before_fsync", false, true, true},
                          {"before_rename", false, true, true},
                          {"before_dir_fsync", true, false, false}};
  for (const Stage& st : stages) {
    CAPTURE(st.name);
    nn::save(old_model, path, {{"epoch", "1"}});
    for (const std::string& t : tmp.temps()) fs::remove(t);
    const int how = in_child([&] {
      ::setenv("XGRAD_TEST_CRASH_AT", st.name, 1);
      nn::save(new_model, path, {{"epoch", "2"}});
    });
    CHECK(how == SIGKILL);
    // (a) The target is a whole checkpoint: the old one, or the new one once renamed.
    nn::MLP back({784, 64, 10});
    nn::load(back, path);
    const nn::MLP& want = st.target_new ? new_model : old_model;
    const nn::NamedTensors got = back.state_dict(), expected = want.state_dict();
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      CHECK(identical(got[i].second, expected[i].second));
    CHECK(nn::read_metadata(path).at("epoch") == (st.target_new ? "2" : "1"));
    // (b) A temp file cut short is refused if loaded directly, naming it.
    const std::vector<std::string> temps = tmp.temps();
    CHECK(temps.size() == (st.temp_left ? 1u : 0u));
    for (const std::string& t : temps) {
      if (st.temp_whole) {
        CHECK(nn::load_file(t).metadata.at("epoch") == "2");
      } else {
        const std::string e = error_of([&] { nn::load_file(t); });
        CHECK_MESSAGE(e.find("nn::load_file(\"" + t + "\")") != std::string::npos, e);
        CHECK_THROWS_AS(nn::load(back, t), std::runtime_error);
      }
    }
    // (c) A new save succeeds beside the leftover and loads.
    nn::save(new_model, path, {{"epoch", "3"}});
    CHECK(nn::read_metadata(path).at("epoch") == "3");
    nn::load(back, path);
    CHECK(tmp.temps().size() == temps.size());  // the leftover is not touched
  }
}

TEST_CASE("crash safety: 30 random SIGKILLs of a child saving in a loop") {
  CrashDir tmp;
  const std::string path = tmp / "big.safetensors";
  const std::size_t rows = 64;  // 768 kB per version
  save_version(0, path, rows);
  // How long one save takes here, to spread the kills over a few saves.
  const auto t0 = std::chrono::steady_clock::now();
  save_version(0, path, rows);
  const auto save_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::mt19937 rng(2026);
  std::uniform_int_distribution<long> delay(0, 3 * std::max<long>(save_us, 200));
  int last = 0, next = 1;
  std::size_t torn_temps = 0, whole_temps = 0, advanced = 0;
  // 30 kills, and more (up to 300) until one has landed inside a save and left a temp file.
  for (int kill = 0; kill < 30 || (torn_temps + whole_temps == 0 && kill < 300); ++kill) {
    CAPTURE(kill);
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const int first = next;
    next += 100000;  // each child's versions are its own
    const int how = in_child(
        [&] {
          ::close(ready[0]);
          char c = 'r';
          if (::write(ready[1], &c, 1) != 1) ::_exit(4);
          for (int v = first;; ++v) save_version(v, path, rows);
        },
        [&](pid_t pid) {
          ::close(ready[1]);
          char c = 0;
          REQUIRE(::read(ready[0], &c, 1) == 1);
          ::close(ready[0]);
          std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
          ::kill(pid, SIGKILL);
        });
    CHECK(how == SIGKILL);
    // The target holds one whole version: the last one seen or one this child wrote.
    const int v = version_of(nn::load_file(path), rows);
    CHECK((v == last || (v >= first && v < first + 100000)));
    if (v != last) ++advanced;
    last = v;
    // A leftover temp file is either refused or a whole version of this child.
    for (const std::string& t : tmp.temps()) {
      nn::Checkpoint ck;
      const std::string e = error_of([&] { ck = nn::load_file(t); });
      if (e == "(no error)") {
        const int tv = version_of(ck, rows);
        CHECK((tv >= first && tv < first + 100000));
        ++whole_temps;
      } else {
        CHECK_MESSAGE(e.find("nn::load_file(\"" + t + "\")") != std::string::npos, e);
        ++torn_temps;
      }
      fs::remove(t);
    }
    // A new save succeeds.
    save_version(last, path, rows);
  }
  MESSAGE("one save: " << save_us << " us; kills that advanced the target: " << advanced
                       << "; torn temp files refused: " << torn_temps
                       << "; whole temp files: " << whole_temps);
  CHECK(torn_temps + whole_temps > 0);  // some kills did land inside a save
}
