#pragma once
// Shared by the fuzz targets: the readers under test take paths, so each input is written to a
// per-process file in /dev/shm (memory, no disk) and read back from there.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace xgfuzz {

/// A folder of this process's own under $XGRAD_FUZZ_SCRATCH (run.sh sets it and removes it after
/// a crash, which skips atexit), else /dev/shm (or /tmp); made once, removed at a normal exit.
inline const std::string& scratch_dir() {
  // Never destroyed: the atexit handler below must still find it after static destructors ran.
  static const std::string* dir = [] {
    const char* env = std::getenv("XGRAD_FUZZ_SCRATCH");
    const std::string base = env && *env                       ? env
                             : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                               : "/tmp";
    auto* d = new std::string(base + "/xgrad-fuzz-" + std::to_string(::getpid()));
    (void)std::system(("mkdir -p '" + *d + "'").c_str());
    std::atexit([] { (void)std::system(("rm -rf '" + *dir + "'").c_str()); });
    return d;
  }();
  return *dir;
}

/// Writes `size` bytes to scratch_dir()/name and returns the path.
inline std::string write_file(const std::string& name, const void* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace xgfuzz
