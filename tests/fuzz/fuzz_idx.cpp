// nn::read_idx on arbitrary bytes (a plain IDX file, or a gzip stream when they start 1f 8b).
// Every input must give an IdxData of the claimed size or a std::exception; never a crash, a leak
// or an allocation larger than the file.
#include <cstdlib>
#include <exception>

#include "nn/idx.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = xgfuzz::write_file("input.idx", data, size);
  try {
    const xg::nn::IdxData d = xg::nn::read_idx(path);
    std::size_t n = 1;
    for (std::size_t dim : d.dims) n *= dim;
    if (d.dims.empty() || d.dims.size() > 4 || d.bytes.size() != n) std::abort();
  } catch (const std::exception&) {
  }
  return 0;
}
