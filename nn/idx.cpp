// IDX reader: header validation and payload length checks for plain and gzipped files.
#include "nn/idx.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "autograd/extend.hpp"

namespace xg::nn {
namespace {

/// Throws std::runtime_error built from streamable parts: a file that cannot be opened, read or
/// written (fail() is for bad arguments), as nn::save/load, viz::render and the plots do.
template <typename... Args>
[[noreturn]] void io_fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw std::runtime_error(os.str());
}

/// A byte source: a plain FILE* or a gzFile, read the same way.
class Source {
 public:
  virtual ~Source() = default;
  /// Reads up to n bytes; returns how many (0 at the end); throws on a read error.
  virtual std::size_t read(unsigned char* p, std::size_t n) = 0;
};

class PlainSource : public Source {
 public:
  PlainSource(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  ~PlainSource() override { std::fclose(f_); }
  std::size_t read(unsigned char* p, std::size_t n) override {
    std::size_t got = std::fread(p, 1, n, f_);
    if (got < n && std::ferror(f_))
      io_fail("read_idx: ", path_, ": read error: ", std::strerror(errno));
    return got;
  }

 private:
  std::FILE* f_;
  std::string path_;
};

class GzSource : public Source {
 public:
  GzSource(gzFile g, std::string path) : g_(g), path_(std::move(path)) {}
  ~GzSource() override { gzclose(g_); }
  std::size_t read(unsigned char* p, std::size_t n) override {
    std::size_t total = 0;
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, 1u << 30));
      int got = gzread(g_, p + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(g_, &code);
        fail("read_idx: ", path_, ": corrupt gzip data (", msg ? msg : "unknown zlib error", ")");
      }
      if (got == 0) {
        int code = 0;
        const char* msg = gzerror(g_, &code);
        if (code != Z_OK && code != Z_STREAM_END)
          fail("read_idx: ", path_, ": corrupt or truncated gzip data (", msg, ")");
        break;
      }
      total += static_cast<std::size_t>(got);
    }
    return total;
  }

 private:
  gzFile g_;
  std::string path_;
};

const char* idx_type_name(unsigned char t) {
  switch (t) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short (int16)";
    case 0x0C:
      return "int (int32)";
    case 0x0D:
      return "float (float32)";
    case 0x0E:
      return "double (float64)";
    default:
      return nullptr;
  }
}

std::string dims_str(const std::vector<std::size_t>& dims) {
  std::ostringstream os;
  for (std::size_t i = 0; i < dims.size(); ++i) os << (i ? "x" : "") << dims[i];
  return os.str();
}

}  // namespace

IdxData read_idx(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) io_fail("read_idx: cannot open ", path, ": ", std::strerror(errno));
  unsigned char head[4] = {0, 0, 0, 0};
  const std::size_t got_head = std::fread(head, 1, 2, f);
  const bool gz = got_head == 2 && head[0] == 0x1f && head[1] == 0x8b;

  std::unique_ptr<Source> src;
  long long plain_size = -1;  // total file size for plain files
  if (gz) {
    std::fclose(f);
    gzFile g = gzopen(path.c_str(), "rb");
    if (!g) io_fail("read_idx: cannot open ", path, " as gzip: ", std::strerror(errno));
    gzbuffer(g, 1 << 17);
    src = std::make_unique<GzSource>(g, path);
  } else {
    if (std::fseek(f, 0, SEEK_END) != 0 || (plain_size = std::ftell(f)) < 0 ||
        std::fseek(f, 0, SEEK_SET) != 0) {
      std::fclose(f);
      io_fail("read_idx: ", path, ": cannot determine the file size (not a regular file?)");
    }
    src = std::make_unique<PlainSource>(f, path);
  }
  const char* kind = gz ? " (gzip)" : "";

  // Header: magic (0, 0, type, rank), then rank big-endian u32 dims.
  if (src->read(head, 4) < 4)
    fail("read_idx: ", path, kind, ": too short for an IDX header (needs 4 magic bytes)");
  if (head[0] != 0 || head[1] != 0)
    fail("read_idx: ", path, kind, ": not an IDX file (magic starts with bytes ",
         static_cast<int>(head[0]), ", ", static_cast<int>(head[1]), " instead of 0, 0)");
  if (head[2] != 0x08) {
    const char* name = idx_type_name(head[2]);
    std::ostringstream t;
    t << "0x" << std::hex << static_cast<int>(head[2]);
    if (name)
      fail("read_idx: ", path, kind, ": element type ", t.str(), " (", name,
           ") is not supported; only 0x8 (unsigned byte) is");
    fail("read_idx: ", path, kind, ": unknown IDX element type ", t.str(),
         " (only 0x8, unsigned byte, is supported)");
  }
  const int rank = head[3];
  if (rank < 1 || rank > 4)
    fail("read_idx: ", path, kind, ": rank ", rank, " is not supported (expected 1 to 4)");
  unsigned char dim_bytes[16];
  const std::size_t header_dims = static_cast<std::size_t>(rank) * 4;
  if (src->read(dim_bytes, header_dims) < header_dims)
    fail("read_idx: ", path, kind, ": the header claims rank ", rank,
         " but the file ends inside the dims");
  IdxData out;
  bool zero = false;
  for (int d = 0; d < rank; ++d) {
    const unsigned char* b = dim_bytes + 4 * d;
    out.dims.push_back((std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) |
                       (std::size_t{b[2]} << 8) | std::size_t{b[3]});
    zero = zero || out.dims.back() == 0;
  }
  std::size_t claimed = zero ? 0 : 1;
  bool overflow = false;  // past kIdxMaxBytes (each dim < 2^32, so the check cannot wrap)
  for (std::size_t dim : out.dims) {
    if (zero || overflow) break;
    if (claimed > kIdxMaxBytes / dim)
      overflow = true;
    else
      claimed *= dim;
  }
  const std::string dims = dims_str(out.dims);
  if (overflow || claimed > kIdxMaxBytes)
    fail("read_idx: ", path, kind, ": claims ", dims, " elements, more than the ", kIdxMaxBytes,
         " bytes read_idx accepts");

  if (!gz) {
    const auto header = static_cast<long long>(4 + header_dims);
    const auto payload = static_cast<unsigned long long>(plain_size - header);
    if (payload < claimed)
      fail("read_idx: ", path, ": claims ", dims, " = ", claimed, " bytes of data but holds ",
           payload, " (truncated or wrong dims)");
    if (payload > claimed)
      fail("read_idx: ", path, ": claims ", dims, " = ", claimed, " bytes of data but holds ",
           payload, " (", payload - claimed, " trailing bytes)");
    out.bytes.resize(claimed);
    const std::size_t got = src->read(out.bytes.data(), claimed);
    if (got != claimed)
      fail("read_idx: ", path, ": read ", got, " of ", claimed,
           " bytes (file changed while read?)");
    return out;
  }

  // gzip: the decompressed length is unknown until read, so read in chunks and let the buffer
  // grow with the data actually there (geometrically, by the vector): a lying header allocates
  // at most one 64 KiB chunk ahead of the data (it used to reserve 64 MiB up front).
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  std::size_t have = 0;
  while (have < claimed) {
    const std::size_t want = std::min(kChunk, claimed - have);
    out.bytes.resize(have + want);
    const std::size_t got = src->read(out.bytes.data() + have, want);
    have += got;
    if (got < want) break;
  }
  if (have < claimed)
    fail("read_idx: ", path, kind, ": claims ", dims, " = ", claimed, " bytes of data but holds ",
         have, " (truncated or wrong dims)");
  unsigned char extra[4096];
  std::size_t trailing = 0, n = 0;
  while ((n = src->read(extra, sizeof extra)) > 0 && trailing < (std::size_t{1} << 30))
    trailing += n;
  if (trailing > 0)
    fail("read_idx: ", path, kind, ": holds ", trailing, n > 0 ? " or more" : "",
         " trailing bytes after the ", dims, " = ", claimed, " bytes of data its header claims");
  return out;
}

}  // namespace xg::nn
