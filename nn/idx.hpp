#pragma once
// The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.
//
// Layout: two zero bytes, a type byte (0x08 = unsigned byte), a rank byte (1..4), one big-endian
// u32 per dim, then prod(dims) elements in row-major order.
#include <cstddef>
#include <string>
#include <vector>

namespace xg::nn {

/// The contents of an IDX file of unsigned bytes.
struct IdxData {
  /// The dims from the header, outermost first (e.g. {60000, 28, 28}).
  std::vector<std::size_t> dims;
  /// prod(dims) bytes in row-major order.
  std::vector<unsigned char> bytes;
};

/// Largest payload read_idx accepts (4 GiB): bigger claims are refused before reading.
constexpr std::size_t kIdxMaxBytes = std::size_t{1} << 32;

/// Reads an IDX file of unsigned bytes (type 0x08), gzipped (detected by the bytes 1f 8b) or
/// plain. Validates the magic, the type (other IDX types are named and refused), the rank
/// (1..4), the dims and that the payload holds exactly prod(dims) bytes: a plain file is checked
/// against its size before anything is allocated; a gzip stream is read in chunks, so memory
/// grows only with the data actually there. Every error names the file and what is wrong, e.g.
/// "read_idx: x.gz: claims 60000x28x28 = 47040000 bytes of data but holds 1234".
IdxData read_idx(const std::string& path);

}  // namespace xg::nn
