// nn::read_idx on gzipped IDX files: the input is the decompressed content (so the fuzzer mutates
// IDX headers and payloads, not compressed bits) and is gzipped here before it is read. fuzz_idx
// covers corrupt gzip streams themselves.
#include <zlib.h>

#include <cstdlib>
#include <exception>
#include <vector>

#include "nn/idx.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {
std::vector<unsigned char> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<unsigned char> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> gz = gzip(data, size);
  const std::string path = xgfuzz::write_file("input.idx.gz", gz.data(), gz.size());
  try {
    const xg::nn::IdxData d = xg::nn::read_idx(path);
    std::size_t n = 1;
    for (std::size_t dim : d.dims) n *= dim;
    // A valid file decompresses to exactly the 4 + 4 * rank header bytes and the payload.
    if (d.bytes.size() != n || 4 + 4 * d.dims.size() + n != size) std::abort();
  } catch (const std::exception&) {
  }
  return 0;
}
