// nn/serialize: safetensors checkpoints. Round trips, a file built by hand from the format
// description (and save's byte-identical output for it), every corruption the reader refuses,
// failed loads that leave a module unchanged, and saves that fail without touching the old file.
// tests/goldens/safetensors_check.py reads the sample checkpoint of the last test case with plain
// Python (struct + json + numpy); see tests/goldens/README.md.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"
#include "nn/nn.hpp"

using namespace xg;
namespace fs = std::filesystem;

namespace {

/// A fresh folder for one test case, removed afterwards.
struct TempDir {
  fs::path dir;
  TempDir() {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("xgrad_test_serialize_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  /// Names of the files in the folder (to see that no temporary file was left).
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
/// u64 little-endian.
std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}
template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}
/// A file from the format description: le64(N), the header padded with spaces to a multiple of
/// 8, then `data`. `length` overrides N (a lying header).
std::string file_of(std::string header, const std::string& data, bool pad = true,
                    std::optional<std::uint64_t> length = std::nullopt) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return le64(length ? *length : header.size()) + header + data;
}
/// The message of the exception f throws ("" if none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
/// Byte-exact equality of two tensors (NaN payloads and -0.0 included).
bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.numel() == 0) return true;
  bool eq = false;
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    eq = std::memcmp(a.data_ptr<T>(), b.data_ptr<T>(), a.numel() * sizeof(T)) == 0;
  });
  return eq;
}

/// A BatchNorm-like leaf: weight and bias train; running_mean and num_batches_tracked (int64)
/// are buffers.
struct Norm : nn::Module {
  explicit Norm(std::size_t n) : Module("Norm") {
    register_parameter("weight", ones({n}));
    register_parameter("bias", zeros({n}));
    register_buffer("running_mean", zeros({n}));
    register_buffer("num_batches_tracked", zeros({}, Dtype::int64));
  }
};
struct Net : nn::Module {
  std::shared_ptr<Norm> norm;
  Net() : Module("Net") {
    register_parameter("w", zeros({2, 3}, Dtype::float64));
    norm = register_module("norm", std::make_shared<Norm>(3));
  }
};
/// Sets every tensor of a Net to values that depend on `seed`.
void fill(Net& net, double seed) {
  NoGradGuard g;
  for (auto& [name, t] : net.state_dict()) {
    if (t.dtype() == Dtype::int64)
      t.fill_(seed * 1000);
    else
      t.copy_(arange(static_cast<double>(t.numel()), t.dtype()).reshape(t.shape()) + seed);
  }
}
bool same_state(const Net& a, const Net& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  if (sa.size() != sb.size()) return false;
  for (std::size_t i = 0; i < sa.size(); ++i)
    if (sa[i].first != sb[i].first || !same_bytes(sa[i].second, sb[i].second)) return false;
  return true;
}

/// A valid two-tensor header and data, for the corruption tests.
const std::string kGoodHeader = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})";
const std::string kGoodData = raw<float>({1.f, -2.f}) + raw<std::int64_t>({-3});

}  // namespace

TEST_CASE("nn::save/load_file round-trip float32, float64, int64, 0-d and empty tensors") {
  TempDir tmp;
  const std::string path = tmp / "all.safetensors";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  nn::NamedTensors in{
      {"z.f32", tensor({0.1, -0.0, inf, nan, 3e38, 1e-45}, {2, 3})},
      {"f64", tensor({0.1, -1e308, 4.9e-324}, {3}, Dtype::float64)},
      {"i64", tensor({-3, 0, 9007199254740992.0}, {3, 1}, Dtype::int64)},
      {"scalar", scalar_tensor(7.5)},
      {"empty", zeros({0, 4}, Dtype::float64)},
      {"empty_i64", zeros({5, 0}, Dtype::int64)},
      {"layer.0.weight", randn({4, 5})},
  };
  Tensor big = tensor({0}, {1}, Dtype::int64);
  big.data_ptr<int64_t>()[0] = std::numeric_limits<int64_t>::min();
  in.emplace_back("i64.min", big);
  const nn::Metadata meta{{"epoch", "3"}, {"note", "caf\xc3\xa9 \"quoted\"\n"}, {"", "empty key"}};
  nn::save(in, path, meta);

  nn::Checkpoint ck = nn::load_file(path);
  CHECK(ck.metadata == meta);
  REQUIRE(ck.tensors.size() == in.size());
  std::vector<std::string> names;
  for (const auto& [name, t] : ck.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"empty", "empty_i64", "f64", "i64", "i64.min",
                                          "layer.0.weight", "scalar", "z.f32"});
  for (const auto& [name, t] : in) {
    const auto it = std::find_if(ck.tensors.begin(), ck.tensors.end(),
                                 [&](const auto& p) { return p.first == name; });
    REQUIRE(it != ck.tensors.end());
    CHECK_MESSAGE(same_bytes(it->second, t), name);
    CHECK_FALSE(it->second.requires_grad());
  }
  CHECK(ck.tensors[6].second.dim() == 0);

  nn::CheckpointInfo info = nn::read_header(path);
  CHECK(info.metadata == meta);
  REQUIRE(info.tensors.size() == in.size());
  CHECK(info.tensors[0].name == "empty");
  CHECK(info.tensors[0].shape == Shape{0, 4});
  CHECK(info.tensors[0].dtype == Dtype::float64);
  CHECK(nn::read_metadata(path) == meta);

  // Nothing to save is a valid file ("{}" padded), and without metadata no "__metadata__".
  nn::save(nn::NamedTensors{}, tmp / "none.safetensors");
  CHECK(read_bytes(tmp / "none.safetensors") == file_of("{}", ""));
  CHECK(nn::load_file(tmp / "none.safetensors").tensors.empty());
  // Overwriting keeps one file and leaves no temporary behind.
  nn::save(in, path);
  CHECK(nn::read_metadata(path).empty());
  CHECK(tmp.files() == std::vector<std::string>{"all.safetensors", "none.safetensors"});
}

TEST_CASE("nn::save/load a Module with parameters and int64 buffers") {
  TempDir tmp;
  const std::string path = tmp / "net.safetensors";
  Net a, b;
  fill(a, 1.0);
  fill(b, 2.0);
  nn::save(a, path, {{"model", "Net"}});
  CHECK_FALSE(same_state(a, b));
  const Tensor w_before = b.state_dict()[0].second;
  nn::load(b, path);
  CHECK(same_state(a, b));
  CHECK(b.state_dict()[0].second.is_same(w_before));  // loaded in place, same tensors
  CHECK(b.norm->local("num_batches_tracked").item<int64_t>() == 1000);
  CHECK(b.norm->local("weight").requires_grad());
  auto ck = nn::load_file(path);
  std::vector<std::string> names;
  for (const auto& [name, t] : ck.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"norm.bias", "norm.num_batches_tracked",
                                          "norm.running_mean", "norm.weight", "w"});
  CHECK(ck.tensors[1].second.dtype() == Dtype::int64);

  // strict=false accepts a checkpoint with extra and missing keys.
  nn::NamedTensors partial{{"w", full({2, 3}, 5.0, Dtype::float64)}, {"extra", zeros({1})}};
  nn::save(partial, tmp / "partial.safetensors");
  nn::load(b, tmp / "partial.safetensors", /*strict=*/false);
  CHECK(b.local("w").to_vector<double>() == std::vector<double>(6, 5.0));
  CHECK(b.norm->local("num_batches_tracked").item<int64_t>() == 1000);
}

TEST_CASE("nn::load_file reads a file built by hand; nn::save writes the same bytes") {
  TempDir tmp;
  // Key order as save writes it: "__metadata__" first, then tensors sorted by name, data in
  // that order; compact JSON, fields dtype, shape, data_offsets; spaces pad N to 8.
  const std::string header = R"({"__metadata__":{"epoch":"7","format":"pt"},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
                             R"("c":{"dtype":"F64","shape":[1,2],"data_offsets":[16,32]},)"
                             R"("d":{"dtype":"F32","shape":[0,3],"data_offsets":[32,32]}})";
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0, -3 = fd ff .. ff, 0.5 = 00 .. e0 3f, -1.0 = .. f0 bf
  const std::string data = std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8) +
                           std::string("\xfd\xff\xff\xff\xff\xff\xff\xff", 8) +
                           std::string("\x00\x00\x00\x00\x00\x00\xe0\x3f", 8) +
                           std::string("\x00\x00\x00\x00\x00\x00\xf0\xbf", 8);
  const std::string bytes = file_of(header, data);
  REQUIRE(bytes.size() % 8 == 0);
  const std::string path = tmp / "hand.safetensors";
  write_bytes(path, bytes);

  nn::Checkpoint ck = nn::load_file(path);
  CHECK(ck.metadata == nn::Metadata{{"epoch", "7"}, {"format", "pt"}});
  REQUIRE(ck.tensors.size() == 4);
  CHECK(ck.tensors[0].first == "a");
  CHECK(ck.tensors[0].second.dtype() == Dtype::float32);
  CHECK(ck.tensors[0].second.to_vector<float>() == std::vector<float>{1.f, -2.f});
  CHECK(ck.tensors[1].second.dtype() == Dtype::int64);
  CHECK(ck.tensors[1].second.dim() == 0);
  CHECK(ck.tensors[1].second.item<int64_t>() == -3);
  CHECK(ck.tensors[2].second.shape() == Shape{1, 2});
  CHECK(ck.tensors[2].second.to_vector<double>() == std::vector<double>{0.5, -1.0});
  CHECK(ck.tensors[3].second.shape() == Shape{0, 3});

  // The same content, given in another order, saves to exactly these bytes.
  nn::NamedTensors reordered{ck.tensors[3], ck.tensors[1], ck.tensors[2], ck.tensors[0]};
  nn::save(reordered, tmp / "again.safetensors", ck.metadata);
  CHECK(read_bytes(tmp / "again.safetensors") == bytes);

  // Readers accept what other writers produce: unpadded headers, any key order, data in
  // another order than the keys, whitespace, "__metadata__" last or null.
  const std::string other =
      R"( {"b" : {"data_offsets":[0,8],"shape":[],"dtype":"I64"},)"
      R"("a":{"shape":[2],"dtype":"F32","data_offsets":[8,16]}, "__metadata__": null})";
  write_bytes(path,
              file_of("{" + other.substr(2), raw<std::int64_t>({-3}) + raw<float>({1.f, -2.f}),
                      /*pad=*/false));
  ck = nn::load_file(path);
  REQUIRE(ck.tensors.size() == 2);
  CHECK(ck.tensors[0].second.to_vector<float>() == std::vector<float>{1.f, -2.f});
  CHECK(ck.tensors[1].second.item<int64_t>() == -3);
  CHECK(ck.metadata.empty());
}

TEST_CASE("nn::load_file refuses truncated files at every length") {
  TempDir tmp;
  const std::string path = tmp / "t.safetensors";
  const std::string good = file_of(kGoodHeader, kGoodData);
  write_bytes(path, good);
  CHECK(nn::load_file(path).tensors.size() == 2);
  for (std::size_t len = 0; len < good.size(); ++len) {
    write_bytes(path, good.substr(0, len));
    const std::string err = error_of([&] { nn::load_file(path); });
    CHECK_MESSAGE(contains(err, "nn::load_file(\"" + path + "\")"), "length ", len, ": ", err);
    CHECK_THROWS_AS(nn::load_file(path), std::runtime_error);
    CHECK_THROWS_AS(nn::read_metadata(path), std::runtime_error);
  }
  write_bytes(path, good.substr(0, 5));
  CHECK(contains(error_of([&] { nn::load_file(path); }),
                 "the file has 5 bytes, too few for the 8-byte header length"));
  write_bytes(path, good.substr(0, 20));
  CHECK(contains(error_of([&] { nn::load_file(path); }), "exceeds the file (20 bytes)"));
  write_bytes(path, good.substr(0, good.size() - 3));
  CHECK(contains(error_of([&] { nn::load_file(path); }),
                 "the tensors hold 16 bytes of data but the file has 13 after the header"));
  CHECK(contains(error_of([&] { nn::load_file(tmp / "missing.safetensors"); }),
                 "cannot open the file: No such file or directory"));
  CHECK(contains(error_of([&] { nn::load_file(tmp.dir.string()); }), "not a regular file"));
}

TEST_CASE("nn::load_file refuses corrupt headers, naming the file and the tensor") {
  TempDir tmp;
  const std::string path = tmp / "bad.safetensors";
  const std::string file = "nn::load_file(\"" + path + "\"): ";
  /// The error of loading a file made of `bytes`.
  auto err = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    CHECK_THROWS_AS(nn::load_file(path), std::runtime_error);
    return error_of([&] { nn::load_file(path); });
  };
  auto entry = [](const std::string& name, const std::string& body) {
    return "{\"" + name + "\":{" + body + "}}";
  };

  SUBCASE("lying header lengths") {
    std::string h = kGoodHeader;  // padded: 112 bytes
    h.append((8 - h.size() % 8) % 8, ' ');
    REQUIRE(h.size() == 112);
    CHECK(err(file_of(h, kGoodData, false, 100'000'001)) ==
          file + "header length 100000001 exceeds the limit of 100000000 bytes");
    CHECK(err(file_of(h, kGoodData, false, ~std::uint64_t{0})) ==
          file + "header length 18446744073709551615 exceeds the limit of 100000000 bytes");
    CHECK(err(file_of(h, kGoodData, false, h.size() + kGoodData.size() + 1)) ==
          file + "header length 129 exceeds the file (136 bytes)");
    // Too short: the JSON is cut.
    CHECK(contains(err(file_of(h, kGoodData, false, 50)), file + "the header is not valid JSON"));
    // Too long by one or three data bytes: the JSON gets stray bytes (NUL, then 0x80).
    CHECK(err(file_of(h, kGoodData, false, h.size() + 1)) ==
          file + "the header is not valid JSON (a NUL byte at header offset 112)");
    CHECK(contains(err(file_of(h, kGoodData.substr(2), false, h.size() + 1)),
                   file + "the header is not valid JSON ([json.exception.parse_error.101]"));
    CHECK(err(file_of("", "", false)) == file + "the header does not start with '{'");
  }
  SUBCASE("headers that are not a JSON object") {
    CHECK(err(file_of(" " + kGoodHeader, kGoodData)) ==
          file + "the header does not start with '{'");
    CHECK(err(file_of("[1, 2]", "")) == file + "the header does not start with '{'");
    CHECK(contains(err(file_of("{\"a\":", "")), file + "the header is not valid JSON"));
    CHECK(err(file_of(R"({"w":{"shape":[[1]]}})", "")) ==
          file + "the header nests deeper than a safetensors header can (at header offset 15)");
    CHECK(contains(err(file_of("{\"a\":" + std::string(1000000, '['), "")),
                   "the header nests deeper than a safetensors header can (at header offset 7)"));
    // Brackets inside strings do not count.
    write_bytes(path, file_of(R"({"[[[[\"{{{{":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                              raw<float>({1.f, 2.f})));
    CHECK(nn::load_file(path).tensors.at(0).first == "[[[[\"{{{{");
    CHECK(contains(err(file_of("{} {}", "")), file + "the header is not valid JSON"));
    CHECK(contains(err(file_of("{\"a\xff\":1}", "")), file + "the header is not valid JSON"));
    // NUL padding (nlohmann alone would stop reading at the NUL and accept it).
    CHECK(err(file_of(std::string("{}\0\0\0\0\0\0", 8), "", false)) ==
          file + "the header is not valid JSON (a NUL byte at header offset 2)");
    CHECK(contains(err(file_of(std::string("{}\0 \"x\": 1}", 11), "")),
                   file + "the header is not valid JSON (a NUL byte at header offset 2)"));
  }
  SUBCASE("duplicate names and fields") {
    const std::string dup = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    CHECK(err(file_of(dup, raw<float>({1, 2, 3, 4}))) == file + "the header names \"a\" twice");
    CHECK(err(file_of(entry("a", R"("dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4])"),
                      raw<float>({1}))) ==
          file + "the header repeats the key \"dtype\" inside an entry");
    CHECK(err(file_of(R"({"__metadata__":{"k":"1","k":"2"}})", "")) ==
          file + "the header repeats the key \"k\" inside an entry");
    CHECK(err(file_of(R"({"__metadata__":{},"__metadata__":{}})", "")) ==
          file + "the header names \"__metadata__\" twice");
  }
  SUBCASE("dtypes") {
    CHECK(err(file_of(entry("w", R"("dtype":"BF16","shape":[2],"data_offsets":[0,4])"),
                      std::string(4, '\0'))) ==
          file + "tensor \"w\": dtype BF16 is not supported (xgrad reads F32, F64 and I64)");
    CHECK(err(file_of(entry("w", R"("dtype":"F33","shape":[2],"data_offsets":[0,8])"),
                      std::string(8, '\0'))) == file + "tensor \"w\": unknown dtype \"F33\"");
    CHECK(err(file_of(entry("w", R"("dtype":32,"shape":[2],"data_offsets":[0,8])"),
                      std::string(8, '\0'))) == file + "tensor \"w\": dtype is not a string");
  }
  SUBCASE("shapes") {
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"),
                      std::string(8, '\0'))) ==
          file + "tensor \"w\": shape [-2] must hold non-negative integers");
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])"),
                      std::string(8, '\0'))) ==
          file + "tensor \"w\": shape [2.0] must hold non-negative integers");
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":["2"],"data_offsets":[0,8])"),
                      std::string(8, '\0'))) ==
          file + "tensor \"w\": shape [\"2\"] must hold non-negative integers");
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":2,"data_offsets":[0,8])"),
                      std::string(8, '\0'))) == file + "tensor \"w\": shape is not an array");
    CHECK(contains(err(file_of(entry("w", R"("dtype":"F32","shape":[18446744073709551616],)"
                                          R"("data_offsets":[0,8])"),
                               std::string(8, '\0'))),
                   "tensor \"w\": shape [1.8446744073709552e+19] must hold non-negative integers"));
    // Element counts past what a tensor can hold (would wrap to a small number).
    CHECK(contains(err(file_of(entry("w", R"("dtype":"F64","shape":[4294967296,4294967296],)"
                                          R"("data_offsets":[0,0])"),
                               "")),
                   file + "tensor \"w\": shape [4294967296, 4294967296] has too many elements"));
    // A zero dimension makes any shape empty (no overflow): a valid 0-element tensor.
    write_bytes(path, file_of(entry("w", R"("dtype":"F64","shape":[4294967296,4294967296,0],)"
                                         R"("data_offsets":[0,0])"),
                              ""));
    CHECK(nn::load_file(path).tensors.at(0).second.numel() == 0);
    CHECK(contains(err(file_of(entry("w", R"("dtype":"F64","shape":[1152921504606846976],)"
                                          R"("data_offsets":[0,0])"),
                               "")),
                   file + "tensor \"w\": shape [1152921504606846976] has too many elements"));
  }
  SUBCASE("offsets that do not tile the data, and wrong sizes") {
    auto two = [](const std::string& a, const std::string& b) {
      return R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + a +
             R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":)" + b + "}}";
    };
    const std::string d16(16, '\0');
    CHECK(err(file_of(two("[0,8]", "[4,12]"), d16)) ==
          file + "tensor \"b\": data [4, 12) overlaps tensor \"a\" (which ends at 8)");
    CHECK(err(file_of(two("[0,8]", "[0,8]"), d16)) ==
          file + "tensor \"b\": data [0, 8) overlaps tensor \"a\" (which ends at 8)");
    CHECK(err(file_of(two("[0,8]", "[12,20]"), std::string(20, '\0'))) ==
          file + "tensor \"b\": data [12, 20) leaves a hole at bytes [8, 12) after tensor \"a\"");
    CHECK(err(file_of(two("[4,12]", "[12,20]"), std::string(20, '\0'))) ==
          file + "tensor \"a\": data [4, 12) leaves a hole at bytes [0, 4) at the start");
    CHECK(err(file_of(two("[0,8]", "[8,12]"), std::string(12, '\0'))) ==
          file + "tensor \"b\": data_offsets [8, 12] hold 4 bytes, but F32 [2] needs 8");
    CHECK(err(file_of(two("[8,0]", "[8,16]"), d16)) ==
          file + "tensor \"a\": data_offsets [8, 0] end before they begin");
    CHECK(err(file_of(two("[0,8]", "[8]"), d16)) ==
          file + "tensor \"b\": data_offsets [8] must be two non-negative integers");
    CHECK(err(file_of(two("[0,8]", "[8,-16]"), d16)) ==
          file + "tensor \"b\": data_offsets [8,-16] must be two non-negative integers");
    // Huge offsets must not wrap around.
    CHECK(contains(err(file_of(two("[0,8]", "[18446744073709551608,0]"), d16)),
                   "tensor \"b\": data_offsets [18446744073709551608, 0] end before they begin"));
    CHECK(contains(err(file_of(two("[0,8]", "[8,18446744073709551615]"), d16)),
                   "tensor \"b\": data_offsets [8, 18446744073709551615] hold"));
  }
  SUBCASE("file size: trailing or missing bytes") {
    CHECK(err(file_of(kGoodHeader, kGoodData + "x")) ==
          file +
              "the tensors hold 16 bytes of data but the file has 17 after the header (8 + 112 "
              "+ 16 != file size 137)");
    CHECK(contains(err(file_of(kGoodHeader, kGoodData.substr(0, 8))),
                   "the tensors hold 16 bytes of data but the file has 8 after the header"));
    CHECK(contains(err(file_of("{}", "\x01")),
                   "the tensors hold 0 bytes of data but the file has 1 after the header"));
  }
  SUBCASE("entry structure and metadata") {
    CHECK(err(file_of(R"({"w":[1,2]})", "")) == file + "tensor \"w\": the entry is not an object");
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":[])"), "")) ==
          file + "tensor \"w\": the field \"data_offsets\" is missing");
    CHECK(err(file_of(entry("w", R"("dtype":"F32","shape":[],"data_offsets":[0,4],"x":1)"),
                      std::string(4, '\0'))) == file + "tensor \"w\": unknown field \"x\"");
    CHECK(err(file_of(R"({"__metadata__":{"epoch":3}})", "")) ==
          file + "metadata \"epoch\" is not a string (3)");
    CHECK(err(file_of(R"({"__metadata__":["a"]})", "")) == file + "__metadata__ is not an object");
  }
}

TEST_CASE("a failed nn::load leaves the module unchanged") {
  TempDir tmp;
  Net net, saved;
  fill(net, 1.0);
  fill(saved, 2.0);
  nn::save(saved, tmp / "good.safetensors");
  auto before = [&] {
    Net copy;
    fill(copy, 1.0);
    return same_state(net, copy);
  };
  const std::string good = read_bytes(tmp / "good.safetensors");

  // A corrupt file (the last tensor's data cut short).
  write_bytes(tmp / "cut.safetensors", good.substr(0, good.size() - 4));
  CHECK_THROWS_AS(nn::load(net, tmp / "cut.safetensors"), std::runtime_error);
  CHECK(before());
  // Valid files whose tensors do not fit: a missing key, a wrong shape, a wrong dtype.
  nn::NamedTensors state = saved.state_dict();
  nn::NamedTensors missing(state.begin(), state.end() - 1);
  nn::save(missing, tmp / "missing.safetensors");
  const std::string err = error_of([&] { nn::load(net, tmp / "missing.safetensors"); });
  CHECK(contains(err, "nn::load(\"" + tmp / "missing.safetensors" +
                          "\"): Net.load_state_dict: "
                          "nothing was loaded; missing keys: norm.num_batches_tracked"));
  CHECK(before());
  nn::NamedTensors reshaped = state;
  reshaped[0].second = zeros({3, 2}, Dtype::float64);
  nn::save(reshaped, tmp / "reshaped.safetensors");
  CHECK_THROWS_AS(nn::load(net, tmp / "reshaped.safetensors"), std::invalid_argument);
  CHECK(before());
  nn::NamedTensors retyped = state;
  retyped.back().second = zeros({}, Dtype::float32);  // num_batches_tracked as F32
  nn::save(retyped, tmp / "retyped.safetensors");
  CHECK(contains(error_of([&] { nn::load(net, tmp / "retyped.safetensors"); }),
                 "norm.num_batches_tracked (checkpoint [] float32, model [] int64)"));
  CHECK(before());
  nn::load(net, tmp / "good.safetensors");
  CHECK(same_state(net, saved));
}

TEST_CASE("nn::save refuses bad arguments and unwritable places, keeping the old file") {
  TempDir tmp;
  const std::string path = tmp / "ckpt.safetensors";
  nn::NamedTensors good{{"w", ones({2, 2})}};
  nn::save(good, path, {{"v", "1"}});
  const std::string old = read_bytes(path);
  const std::string file = "nn::save(\"" + path + "\"): ";

  CHECK_THROWS_WITH_AS(nn::save(nn::NamedTensors{{"w", ones({1})}, {"w", ones({1})}}, path),
                       (file + "tensor name \"w\" appears twice").c_str(), std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::save(nn::NamedTensors{{"__metadata__", ones({1})}}, path),
                       (file + "\"__metadata__\" cannot name a tensor").c_str(),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::save(nn::NamedTensors{{"u", Tensor()}}, path),
                       (file + "tensor \"u\" is undefined").c_str(), std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::save(nn::NamedTensors{{"bad\xff", ones({1})}}, path),
                       (file + "tensor name \"bad\xff\" is not valid UTF-8").c_str(),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::save(good, path, {{"k", "\xc3"}}),
                       (file + "the value of metadata key \"k\" is not valid UTF-8").c_str(),
                       std::invalid_argument);
  CHECK(read_bytes(path) == old);

  // A missing folder, a "folder" that is a file, and a read-only one (/proc refuses even root).
  std::string e = error_of([&] { nn::save(good, tmp / "no/such/dir/x.safetensors"); });
  CHECK(contains(e, "nn::save(\"" + tmp / "no/such/dir/x.safetensors" +
                        "\"): cannot create a temporary file in the folder \"" +
                        tmp / "no/such/dir" + "\": No such file or directory"));
  e = error_of([&] { nn::save(good, path + "/x.safetensors"); });
  CHECK(contains(e,
                 "cannot create a temporary file in the folder \"" + path + "\": Not a directory"));
  e = error_of([&] { nn::save(good, "/proc/xgrad_test.safetensors"); });
  CHECK(contains(e,
                 "nn::save(\"/proc/xgrad_test.safetensors\"): cannot create a temporary file "
                 "in the folder \"/proc\""));
  CHECK_FALSE(fs::exists("/proc/xgrad_test.safetensors"));
  if (::geteuid() != 0) {  // permissions bind only non-root users
    fs::create_directories(tmp.dir / "ro");
    nn::save(good, tmp / "ro/c.safetensors");
    fs::permissions(tmp.dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(contains(error_of([&] { nn::save(nn::NamedTensors{}, tmp / "ro/c.safetensors"); }),
                   "Permission denied"));
    fs::permissions(tmp.dir / "ro", fs::perms::owner_all);
    CHECK(nn::load_file(tmp / "ro/c.safetensors").tensors.size() == 1);
  }
  // The target is a folder: the rename fails and the temporary file goes away.
  fs::create_directories(tmp.dir / "adir");
  e = error_of([&] { nn::save(good, tmp / "adir"); });
  CHECK(contains(e, "cannot rename"));
  CHECK(fs::is_directory(tmp.dir / "adir"));

  // A write that fails half way (file size limit): the old file stays, no temporary is left.
  struct rlimit old_limit {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  e = error_of([&] { nn::save(nn::NamedTensors{{"big", zeros({100000})}}, path); });
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  CHECK(contains(e, file + "cannot write"));
  CHECK(contains(e, "File too large (any previous file is unchanged)"));
  CHECK(read_bytes(path) == old);
  CHECK(nn::read_metadata(path) == nn::Metadata{{"v", "1"}});
  CHECK(tmp.files() == std::vector<std::string>{"adir", "ckpt.safetensors"});
}

TEST_CASE("nn::save sample checkpoint for tests/goldens/safetensors_check.py") {
  // The script reads this file with struct + json + numpy and checks these values. To run it:
  //   XGRAD_CHECKPOINT_SAMPLE=/tmp/sample.safetensors ./build/tests/xgrad_tests
  //       -tc='*safetensors_check*'
  //   /usr/bin/python3 tests/goldens/safetensors_check.py /tmp/sample.safetensors
  TempDir tmp;
  const char* env = std::getenv("XGRAD_CHECKPOINT_SAMPLE");
  const std::string path = env && *env ? std::string(env) : tmp / "sample.safetensors";
  nn::NamedTensors sample{
      {"w", arange(6.0).reshape({2, 3}) / 4.0},
      {"d", tensor({3.141592653589793, -0.5}, {2}, Dtype::float64)},
      {"n", tensor({-3, 1099511627776.0}, {2}, Dtype::int64)},
      {"s", scalar_tensor(7.5)},
      {"e", zeros({0, 3})},
  };
  nn::save(sample, path, {{"format", "pt"}, {"epoch", "3"}});
  nn::Checkpoint ck = nn::load_file(path);
  REQUIRE(ck.tensors.size() == 5);
  CHECK(ck.tensors[4].first == "w");
  CHECK(ck.tensors[4].second.to_vector<float>() ==
        std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f, 1.25f});
}
