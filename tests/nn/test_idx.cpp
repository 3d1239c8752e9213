// read_idx on good, truncated, lying and malformed files (plain and gzipped) written here, and
// FashionMNIST on files written here and on the installed ones (goldens:
// tests/goldens/fashion_mnist.py).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// A fresh temporary directory, removed (with its files) at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/xgrad_idx_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

using Bytes = std::vector<unsigned char>;

/// IDX header: 0, 0, type, rank, then big-endian u32 dims.
Bytes header(const std::vector<uint32_t>& dims, unsigned char type = 0x08) {
  Bytes b{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  return b;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// n bytes 0, 1, 2, ... (mod 256).
Bytes ramp(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(i * 7 % 256);
  return b;
}

void write_plain(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile g = gzopen(path.c_str(), "wb");
  REQUIRE(g != nullptr);
  if (!b.empty()) REQUIRE(gzwrite(g, b.data(), static_cast<unsigned>(b.size())) > 0);
  gzclose(g);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// Writes a small Fashion-MNIST-shaped split: n images whose pixels are (i + k) % 256, labels
/// i % 10.
void write_fake_split(const TempDir& dir, const std::string& prefix, uint32_t n, bool gz) {
  Bytes px(std::size_t{n} * 784), lb(n);
  for (std::size_t i = 0; i < n; ++i) {
    lb[i] = static_cast<unsigned char>(i % 10);
    for (std::size_t k = 0; k < 784; ++k)
      px[i * 784 + k] = static_cast<unsigned char>((i + k) % 256);
  }
  auto write = gz ? write_gz : write_plain;
  const std::string ext = gz ? ".gz" : "";
  write(dir.file(prefix + "-images-idx3-ubyte" + ext), concat(header({n, 28, 28}), px));
  write(dir.file(prefix + "-labels-idx1-ubyte" + ext), concat(header({n}), lb));
}

}  // namespace

TEST_CASE("read_idx reads good plain and gzipped files") {
  TempDir dir;
  const Bytes payload = ramp(3 * 4 * 5);
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string p = dir.file(gz ? "good.gz" : "good");
    (gz ? write_gz : write_plain)(p, concat(header({3, 4, 5}), payload));
    nn::IdxData d = nn::read_idx(p);
    CHECK(d.dims == std::vector<std::size_t>{3, 4, 5});
    CHECK(d.bytes == payload);
  }
  // Rank 1 and rank 4, and an empty (zero-length dim) file.
  write_plain(dir.file("r1"), concat(header({7}), ramp(7)));
  CHECK(nn::read_idx(dir.file("r1")).bytes == ramp(7));
  write_gz(dir.file("r4.gz"), concat(header({2, 1, 3, 2}), ramp(12)));
  CHECK(nn::read_idx(dir.file("r4.gz")).dims == std::vector<std::size_t>{2, 1, 3, 2});
  write_plain(dir.file("empty"), header({0, 28, 28}));
  nn::IdxData e = nn::read_idx(dir.file("empty"));
  CHECK(e.dims == std::vector<std::size_t>{0, 28, 28});
  CHECK(e.bytes.empty());
}

TEST_CASE("read_idx refuses truncated files, naming the claim and what is there") {
  TempDir dir;
  const Bytes file = concat(header({3, 4, 5}), ramp(50));  // 60 claimed, 50 there
  write_plain(dir.file("short"), file);
  write_gz(dir.file("short.gz"), file);
  const std::string plain = error_of([&] { nn::read_idx(dir.file("short")); });
  CHECK(contains(plain, dir.file("short") + ": claims 3x4x5 = 60 bytes of data but holds 50"));
  const std::string gz = error_of([&] { nn::read_idx(dir.file("short.gz")); });
  CHECK(contains(gz, dir.file("short.gz")));
  CHECK(contains(gz, "claims 3x4x5 = 60 bytes of data but holds 50"));

  // Cut inside the dims, and an empty file.
  Bytes cut = header({3, 4, 5});
  cut.resize(9);
  write_plain(dir.file("cut"), cut);
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("cut")); }),
                 "claims rank 3 but the file ends inside the dims"));
  write_plain(dir.file("zero"), {});
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("zero")); }), "too short for an IDX header"));

  // A gzip stream cut in the middle of its compressed data.
  Bytes big(20000);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
  write_gz(dir.file("whole.gz"), concat(header({100, 200}), big));
  std::ifstream in(dir.file("whole.gz"), std::ios::binary);
  Bytes gzbytes((std::istreambuf_iterator<char>(in)), {});
  gzbytes.resize(gzbytes.size() / 2);
  write_plain(dir.file("halfgz.gz"), gzbytes);
  const std::string half = error_of([&] { nn::read_idx(dir.file("halfgz.gz")); });
  CHECK(contains(half, dir.file("halfgz.gz")));
  CHECK((contains(half, "but holds") || contains(half, "gzip data")));
}

TEST_CASE("read_idx refuses lying dims without allocating them") {
  TempDir dir;
  // 65535 x 65535 = 4.29e9 bytes claimed (just under the cap) by files that hold 10 bytes: the
  // plain file is refused against its size, the gzip one after reading what is there.
  const Bytes lying = concat(header({65535, 65535}), ramp(10));
  write_plain(dir.file("lying"), lying);
  write_gz(dir.file("lying.gz"), lying);
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("lying")); }),
                 "claims 65535x65535 = 4294836225 bytes of data but holds 10"));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("lying.gz")); }),
                 "claims 65535x65535 = 4294836225 bytes of data but holds 10"));
  // Past the cap (and past 2^64 as a product): refused from the header alone.
  write_gz(dir.file("huge.gz"), concat(header({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}), ramp(4)));
  const std::string huge = error_of([&] { nn::read_idx(dir.file("huge.gz")); });
  CHECK(contains(huge, "claims 4294967295x4294967295x4294967295 elements, more than the"));
}

TEST_CASE("read_idx refuses wrong magic, types, ranks and trailing bytes") {
  TempDir dir;
  write_plain(dir.file("magic"), concat({0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1}, {7}));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("magic")); }),
                 dir.file("magic") + ": not an IDX file (magic starts with bytes 18, 52"));
  write_plain(dir.file("float"), concat(header({2}, 0x0D), ramp(8)));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("float")); }),
                 "element type 0xd (float (float32)) is not supported"));
  write_plain(dir.file("type"), concat(header({2}, 0x42), ramp(2)));
  CHECK(
      contains(error_of([&] { nn::read_idx(dir.file("type")); }), "unknown IDX element type 0x42"));
  write_plain(dir.file("rank0"), header({}));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("rank0")); }), "rank 0 is not supported"));
  write_gz(dir.file("rank5.gz"), concat(header({1, 1, 1, 1, 1}), ramp(1)));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("rank5.gz")); }), "rank 5 is not supported"));

  const Bytes extra = concat(header({2, 3}), ramp(9));  // 6 claimed, 9 there
  write_plain(dir.file("extra"), extra);
  write_gz(dir.file("extra.gz"), extra);
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("extra")); }),
                 "claims 2x3 = 6 bytes of data but holds 9 (3 trailing bytes)"));
  CHECK(contains(error_of([&] { nn::read_idx(dir.file("extra.gz")); }),
                 "holds 3 trailing bytes after the 2x3 = 6 bytes of data its header claims"));

  CHECK(contains(error_of([&] { nn::read_idx(dir.file("absent")); }),
                 "read_idx: cannot open " + dir.file("absent")));
  CHECK(contains(error_of([&] { nn::read_idx(dir.path); }), dir.path));
}

TEST_CASE("FashionMNIST reads a root given by argument or XGRAD_DATA, names missing files") {
  TempDir dir;
  write_fake_split(dir, "train", 12, true);
  write_fake_split(dir, "t10k", 5, false);  // plain files work too

  nn::FashionMNIST train(dir.path, true);
  CHECK(train.size() == 12);
  CHECK(train.data().shape() == Shape{12, 1, 28, 28});
  CHECK(train.data().dtype() == Dtype::float32);
  CHECK(train.targets().dtype() == Dtype::int64);
  CHECK(train.targets().to_vector<int64_t>()[11] == 1);
  const float* px = train.data().data_ptr<float>();
  CHECK(px[3 * 784 + 10] == doctest::Approx(13 / 255.0));
  nn::Example e = train.get(3);
  CHECK(e.data.shape() == Shape{1, 28, 28});
  CHECK(e.target.shape() == Shape{});
  CHECK(e.target.item<double>() == 3);

  ::setenv("XGRAD_DATA", dir.path.c_str(), 1);
  nn::FashionMNIST test(false, nn::FashionMNISTOptions().limit(3).normalize(true));
  ::unsetenv("XGRAD_DATA");
  CHECK(test.root() == dir.path);
  CHECK(test.size() == 3);
  CHECK(test.data().data_ptr<float>()[0] ==
        doctest::Approx((0.0 - nn::FashionMNIST::kMean) / nn::FashionMNIST::kStd));

  // A data root holding a fashion-mnist/ folder.
  TempDir parent;
  ::mkdir(parent.file("fashion-mnist").c_str(), 0755);
  write_fake_split(parent, "fashion-mnist/t10k", 4, true);
  CHECK(nn::FashionMNIST(parent.path, false).size() == 4);

  TempDir empty_root;
  const std::string missing = error_of([&] { nn::FashionMNIST(empty_root.path, true); });
  CHECK(contains(missing,
                 "FashionMNIST: " + empty_root.file("train-images-idx3-ubyte.gz") +
                     " not found; install Debian's dataset-fashion-mnist or set XGRAD_DATA"));

  // Images and labels that disagree, and a label that is not a class.
  TempDir bad;
  write_fake_split(bad, "train", 6, true);
  write_gz(bad.file("train-labels-idx1-ubyte.gz"), concat(header({5}), Bytes(5, 1)));
  CHECK(contains(error_of([&] { nn::FashionMNIST(bad.path, true); }), "holds 6 images but"));
  write_gz(bad.file("train-labels-idx1-ubyte.gz"), concat(header({6}), Bytes{0, 1, 2, 10, 4, 5}));
  CHECK(contains(error_of([&] { nn::FashionMNIST(bad.path, true); }),
                 "label 10 at index 3 is not a class (0..9)"));
  CHECK(nn::FashionMNIST::kClasses[9] == std::string("Ankle boot"));
}

TEST_CASE("FashionMNIST on the installed files matches Python's reading of them") {
  const std::string root = nn::FashionMNIST::kDefaultRoot;
  struct stat st;
  if (::stat((root + "/train-images-idx3-ubyte.gz").c_str(), &st) != 0) {
    MESSAGE("skipped: " << root << " is not installed (Debian's dataset-fashion-mnist)");
    return;
  }
  nn::FashionMNIST train(root, true);
  CHECK(train.data().shape() == Shape{60000, 1, 28, 28});
  CHECK(train.targets().shape() == Shape{60000});
  const std::vector<int64_t> labels = train.targets().to_vector<int64_t>();
  CHECK(std::vector<int64_t>(labels.begin(), labels.begin() + 10) ==
        std::vector<int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(labels.back() == 5);
  std::vector<int64_t> counts(10);
  for (int64_t l : labels) ++counts[static_cast<std::size_t>(l)];
  CHECK(counts == std::vector<int64_t>(10, 6000));
  const float* px = train.data().data_ptr<float>();
  double sum0 = 0, sum_last = 0;
  for (std::size_t k = 0; k < 784; ++k) {
    sum0 += px[k];
    sum_last += px[59999 * 784 + k];
  }
  CHECK(sum0 * 255 == doctest::Approx(76247).epsilon(1e-6));
  CHECK(sum_last * 255 == doctest::Approx(16684).epsilon(1e-6));
  CHECK(px[14 * 28 + 14] * 255 == doctest::Approx(217).epsilon(1e-6));
  const double mean = train.data().to(Dtype::float64).mean().item<double>();
  CHECK(mean == doctest::Approx(nn::FashionMNIST::kMean).epsilon(1e-6));

  nn::FashionMNIST test(root, false);
  CHECK(test.size() == 10000);
  const std::vector<int64_t> tl = test.targets().to_vector<int64_t>();
  CHECK(std::vector<int64_t>(tl.begin(), tl.begin() + 10) ==
        std::vector<int64_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
  double sum_t = 0;
  for (std::size_t k = 0; k < 784; ++k) sum_t += test.data().data_ptr<float>()[9999 * 784 + k];
  CHECK(sum_t * 255 == doctest::Approx(24390).epsilon(1e-6));
}
