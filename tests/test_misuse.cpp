// The misuse table: every user-facing mistake across autograd, nn, optim, viz and the command
// line, one row each: what is done wrong, the exception type it must raise, and the pieces its
// message must hold (the op, module, function or file, and the shapes, values or bytes
// involved). Every row builds its own objects, so rows are independent; files go to a fresh
// temporary folder that is removed at the end.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;
namespace F = xg::nn::functional;
namespace fs = std::filesystem;

namespace {

/// The exception type a row expects.
enum class Throws { invalid_argument, runtime_error };

struct Row {
  const char* what;                   ///< the misuse, in words
  std::function<void()> misuse;       ///< does it (with fresh objects)
  Throws type;                        ///< the exception type expected
  std::vector<std::string> contains;  ///< substrings the message must hold
};

const char* type_name(Throws t) {
  return t == Throws::invalid_argument ? "std::invalid_argument" : "std::runtime_error";
}

/// Runs every row: each must throw the expected type with every substring in its message.
void run_table(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    std::string got = "(no exception)";
    bool type_ok = false;
    try {
      r.misuse();
    } catch (const std::invalid_argument& e) {
      got = std::string("std::invalid_argument: ") + e.what();
      type_ok = r.type == Throws::invalid_argument;
    } catch (const std::runtime_error& e) {
      got = std::string("std::runtime_error: ") + e.what();
      type_ok = r.type == Throws::runtime_error;
    } catch (const std::exception& e) {
      got = std::string("other std::exception: ") + e.what();
    }
    INFO("row: ", std::string(r.what));
    INFO("got: ", got);
    CHECK_MESSAGE(type_ok, "expected ", std::string(type_name(r.type)));
    for (const std::string& s : r.contains)
      CHECK_MESSAGE(got.find(s) != std::string::npos, "message lacks \"", s, "\"");
  }
}

/// A fresh folder for the rows that write or read files (removed by its destructor).
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("xgrad_misuse_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// A folder no file can be created in, even as root: a path under /proc.
const std::string kUnwritable = "/proc/xgrad_misuse_no_such_dir";

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A leaf of `shape` that requires grad.
Tensor leaf(const Shape& shape, Dtype d = Dtype::float32) {
  return randn(shape, d).requires_grad_();
}

/// A two-layer model with a registered child, for module, checkpoint and optimizer rows.
struct TwoLayer : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  TwoLayer(int64_t in = 4, int64_t hidden = 3, int64_t out = 2) : Module("TwoLayer") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
};

/// cross_entropy with default options, as nn::fit takes a loss.
Tensor ce(const Tensor& logits, const Tensor& target) { return F::cross_entropy(logits, target); }

/// All values of a module's state, to compare before and after a failed load.
std::vector<std::vector<double>> values_of(const nn::Module& m) {
  std::vector<std::vector<double>> v;
  for (const auto& [name, t] : m.state_dict()) v.push_back(t.to_vector<double>());
  return v;
}

/// Loads `path` into a fresh TwoLayer and checks that the failed load changed nothing.
void load_must_not_change(const std::string& path) {
  auto m = std::make_shared<TwoLayer>();
  const auto before = values_of(*m);
  try {
    nn::load(*m, path);
  } catch (...) {
    CHECK_MESSAGE(values_of(*m) == before, "a failed load changed the model");
    throw;
  }
}

}  // namespace

// =============================================================================== autograd

TEST_CASE("misuse table: autograd ops") {
  const std::vector<Row> rows = {
      // ---- binary ops: broadcasting mismatches name the op and both shapes
      {"add of [2, 3] and [4]",
       [] {
         zeros({2, 3}) + zeros({4});
       },
       Throws::invalid_argument,
       {"add", "[2, 3]", "[4]"}},
      {"sub of [2, 3] and [3, 2]",
       [] {
         sub(zeros({2, 3}), zeros({3, 2}));
       },
       Throws::invalid_argument,
       {"sub", "[2, 3]", "[3, 2]"}},
      {"mul of [5] and [4]",
       [] { zeros({5}) * zeros({4}); },
       Throws::invalid_argument,
       {"mul", "[5]", "[4]"}},
      {"div of [2, 3] and [2]",
       [] {
         zeros({2, 3}) / ones({2});
       },
       Throws::invalid_argument,
       {"div", "[2, 3]", "[2]"}},
      {"pow of [3] and [2]",
       [] { pow(ones({3}), ones({2})); },
       Throws::invalid_argument,
       {"pow", "[3]", "[2]"}},
      {"maximum of [3] and [2]",
       [] { maximum(ones({3}), ones({2})); },
       Throws::invalid_argument,
       {"maximum", "[3]", "[2]"}},
      {"minimum of [3] and [2]",
       [] { minimum(ones({3}), ones({2})); },
       Throws::invalid_argument,
       {"minimum", "[3]", "[2]"}},
      {"where with a [4] condition on [3] values",
       [] { where(ones({4}), ones({3}), ones({3})); },
       Throws::invalid_argument,
       {"where", "[4]", "[3]"}},
      {"eq of [3] and [2]",
       [] { eq(ones({3}), ones({2})); },
       Throws::invalid_argument,
       {"eq", "[3]", "[2]"}},
      {"gt of [3] and [2]",
       [] { gt(ones({3}), ones({2})); },
       Throws::invalid_argument,
       {"gt", "[3]", "[2]"}},
      {"in-place add_ of [3, 2] into [2]",
       [] {
         zeros({2}).add_(zeros({3, 2}));
       },
       Throws::invalid_argument,
       {"add_", "[3, 2]", "[2]"}},
      {"in-place mul_ of [3] into [2]",
       [] { zeros({2}).mul_(zeros({3})); },
       Throws::invalid_argument,
       {"mul_", "[3]", "[2]"}},
      {"copy_ of [3] into [2, 2]",
       [] {
         zeros({2, 2}).copy_(zeros({3}));
       },
       Throws::invalid_argument,
       {"copy_", "[3]", "[2, 2]"}},

      // ---- dtypes: float32 with float64, int64 where floating point is needed
      {"add of float32 and float64",
       [] { ones({2}) + ones({2}, Dtype::float64); },
       Throws::invalid_argument,
       {"add", "float32", "float64"}},
      {"mul of float64 and float32",
       [] { ones({2}, Dtype::float64) * ones({2}); },
       Throws::invalid_argument,
       {"mul", "float64", "float32"}},
      {"matmul of float32 and float64",
       [] {
         matmul(ones({2, 2}), ones({2, 2}, Dtype::float64));
       },
       Throws::invalid_argument,
       {"matmul", "float32", "float64"}},
      {"cat of float32 and float64",
       [] {
         cat({ones({2}), ones({2}, Dtype::float64)});
       },
       Throws::invalid_argument,
       {"cat", "float32", "float64"}},
      {"where of float32 and float64 branches",
       [] { where(ones({2}), ones({2}), ones({2}, Dtype::float64)); },
       Throws::invalid_argument,
       {"where", "float32", "float64"}},
      {"exp of int64",
       [] { exp(ones({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"exp", "int64"}},
      {"sigmoid of int64",
       [] { sigmoid(ones({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"sigmoid", "int64"}},
      {"matmul of int64",
       [] {
         matmul(ones({2, 2}, Dtype::int64), ones({2, 2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"matmul", "int64"}},
      {"softmax of int64",
       [] {
         softmax(ones({2, 3}, Dtype::int64), 1);
       },
       Throws::invalid_argument,
       {"softmax", "int64"}},
      {"mean of int64",
       [] { mean(ones({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"mean", "int64"}},
      {"conv2d of int64",
       [] {
         conv2d(ones({1, 1, 3, 3}, Dtype::int64), ones({1, 1, 2, 2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"conv2d", "int64"}},
      {"requires_grad_ on int64",
       [] { ones({2}, Dtype::int64).requires_grad_(); },
       Throws::invalid_argument,
       {"requires_grad_", "int64"}},
      {"randn in int64",
       [] { randn({2}, Dtype::int64); },
       Throws::invalid_argument,
       {"randn", "int64"}},
      {"data_ptr<double> of float32",
       [] { ones({2}).data_ptr<double>(); },
       Throws::invalid_argument,
       {"data_ptr", "float32", "float64"}},

      // ---- linear algebra: inner dims
      {"matmul [64, 784] @ [256, 10]",
       [] {
         matmul(zeros({64, 784}), zeros({256, 10}));
       },
       Throws::invalid_argument,
       {"matmul", "[64, 784]", "[256, 10]", "784", "256"}},
      {"matmul of 1-D [3] and [4]",
       [] { matmul(zeros({3}), zeros({4})); },
       Throws::invalid_argument,
       {"matmul", "[3]", "[4]"}},
      {"matmul of a 0-d tensor",
       [] { matmul(scalar_tensor(1), zeros({3})); },
       Throws::invalid_argument,
       {"matmul", "[]", "[3]"}},
      {"matmul batch dims [2] and [5]",
       [] {
         matmul(zeros({2, 3, 4}), zeros({5, 4, 2}));
       },
       Throws::invalid_argument,
       {"matmul", "[2, 3, 4]", "[5, 4, 2]"}},
      {"mm [2, 3] @ [2, 3]",
       [] {
         mm(zeros({2, 3}), zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"mm", "[2, 3]", "3 != 2"}},
      {"mm of a 3-D tensor",
       [] {
         mm(zeros({2, 3, 1}), zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"mm", "[2, 3, 1]"}},
      {"mm with transpose flags [2, 3]^T @ [2, 3]^T",
       [] {
         mm(zeros({2, 3}), zeros({2, 3}), true, true);
       },
       Throws::invalid_argument,
       {"mm", "[2, 3]"}},
      {"bmm batch sizes 2 and 3",
       [] {
         bmm(zeros({2, 3, 4}), zeros({3, 4, 5}));
       },
       Throws::invalid_argument,
       {"bmm", "[2, 3, 4]", "[3, 4, 5]"}},
      {"bmm inner dims 4 and 5",
       [] {
         bmm(zeros({2, 3, 4}), zeros({2, 5, 6}));
       },
       Throws::invalid_argument,
       {"bmm", "[2, 3, 4]", "[2, 5, 6]"}},
      {"bmm of 2-D tensors",
       [] {
         bmm(zeros({3, 4}), zeros({4, 5}));
       },
       Throws::invalid_argument,
       {"bmm", "[3, 4]"}},
      {"linear input [8, 784] with weight [10, 783]",
       [] {
         linear(zeros({8, 784}), zeros({10, 783}));
       },
       Throws::invalid_argument,
       {"linear", "[8, 784]", "[10, 783]"}},
      {"linear bias [5] for 10 outputs",
       [] {
         linear(zeros({8, 4}), zeros({10, 4}), zeros({5}));
       },
       Throws::invalid_argument,
       {"linear", "[5]", "10"}},
      {"t() of a 3-D tensor",
       [] {
         zeros({2, 3, 4}).t();
       },
       Throws::invalid_argument,
       {"t", "[2, 3, 4]"}},

      // ---- convolution and pooling
      {"conv2d input 3 channels, weight expects 2",
       [] {
         conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3}));
       },
       Throws::invalid_argument,
       {"conv2d", "[1, 3, 8, 8]", "[4, 2, 3, 3]"}},
      {"conv2d kernel 3x3 larger than a 2x2 input",
       [] {
         conv2d(zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3}));
       },
       Throws::invalid_argument,
       {"conv2d", "[1, 1, 2, 2]", "kernel [3, 3]"}},
      {"conv2d of a 3-D input",
       [] {
         conv2d(zeros({3, 8, 8}), zeros({4, 3, 3, 3}));
       },
       Throws::invalid_argument,
       {"conv2d", "[3, 8, 8]"}},
      {"conv2d bias [3] for 4 filters",
       [] {
         conv2d(zeros({1, 3, 8, 8}), zeros({4, 3, 3, 3}), zeros({3}));
       },
       Throws::invalid_argument,
       {"conv2d", "[3]", "4"}},
      {"conv2d stride 0",
       [] {
         conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 2, 2}), {}, {0, 1});
       },
       Throws::invalid_argument,
       {"conv2d", "stride", "0"}},
      {"conv2d negative padding",
       [] {
         conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 2, 2}), {}, {1, 1}, {-1, 0});
       },
       Throws::invalid_argument,
       {"conv2d", "padding", "-1"}},
      {"conv2d 3 channels in 2 groups",
       [] {
         conv2d(zeros({1, 3, 4, 4}), zeros({4, 1, 2, 2}), {}, {1, 1}, {0, 0}, {1, 1}, 2);
       },
       Throws::invalid_argument,
       {"conv2d", "groups", "2", "3"}},
      {"max_pool2d kernel 3 on a 2x2 input",
       [] {
         max_pool2d(zeros({1, 1, 2, 2}), {3, 3});
       },
       Throws::invalid_argument,
       {"max_pool2d", "[1, 1, 2, 2]", "3"}},
      {"max_pool2d kernel 0",
       [] {
         max_pool2d(zeros({1, 1, 4, 4}), {0, 2});
       },
       Throws::invalid_argument,
       {"max_pool2d", "kernel", "0"}},
      {"max_pool2d padding above half the kernel",
       [] {
         max_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {2, 2}, {2, 2});
       },
       Throws::invalid_argument,
       {"max_pool2d", "padding", "2"}},
      {"max_pool2d of a 2-D input",
       [] {
         max_pool2d(zeros({4, 4}), {2, 2});
       },
       Throws::invalid_argument,
       {"max_pool2d", "[4, 4]"}},
      {"max_pool2d kernel given as 3 numbers",
       [] {
         max_pool2d(zeros({1, 1, 4, 4}), {2, 2, 2});
       },
       Throws::invalid_argument,
       {"max_pool2d", "kernel", "[2, 2, 2]"}},
      {"avg_pool2d kernel 5 on a 4x4 input",
       [] {
         avg_pool2d(zeros({1, 1, 4, 4}), {5, 5});
       },
       Throws::invalid_argument,
       {"avg_pool2d", "[1, 1, 4, 4]", "5"}},
      {"avg_pool2d stride 0",
       [] {
         avg_pool2d(zeros({1, 1, 4, 4}), {2, 2}, {0, 0});
       },
       Throws::invalid_argument,
       {"avg_pool2d", "stride", "0"}},

      // ---- joining
      {"cat [2, 3] and [2, 4] on dim 0",
       [] {
         cat({zeros({2, 3}), zeros({2, 4})}, 0);
       },
       Throws::invalid_argument,
       {"cat", "[2, 3]", "[2, 4]"}},
      {"cat of [2, 3] and [3]",
       [] {
         cat({zeros({2, 3}), zeros({3})}, 0);
       },
       Throws::invalid_argument,
       {"cat", "[2, 3]", "[3]"}},
      {"cat of no tensors", [] { cat({}, 0); }, Throws::invalid_argument, {"cat", "empty"}},
      {"cat on dim 2 of 2-D tensors",
       [] {
         cat({zeros({2, 3}), zeros({2, 3})}, 2);
       },
       Throws::invalid_argument,
       {"cat", "2", "[2, 3]"}},
      {"stack of [2] and [3]",
       [] {
         stack({zeros({2}), zeros({3})});
       },
       Throws::invalid_argument,
       {"stack", "[2]", "[3]"}},
      {"stack of no tensors", [] { stack({}); }, Throws::invalid_argument, {"stack", "empty"}},
      {"stack on dim 3 of 1-D tensors",
       [] {
         stack({zeros({2}), zeros({2})}, 3);
       },
       Throws::invalid_argument,
       {"stack", "3", "[2]"}},

      // ---- reshaping and views
      {"reshape [2, 3] to [4]",
       [] {
         reshape(zeros({2, 3}), {4});
       },
       Throws::invalid_argument,
       {"reshape", "[4]", "[2, 3]", "6"}},
      {"view [2, 3] as [4, -1]",
       [] {
         view(zeros({2, 3}), {4, -1});
       },
       Throws::invalid_argument,
       {"view", "[4, -1]", "[2, 3]"}},
      {"view with two -1",
       [] {
         view(zeros({2, 3}), {-1, -1});
       },
       Throws::invalid_argument,
       {"view", "-1"}},
      {"view with -2",
       [] {
         view(zeros({2, 3}), {-2, 3});
       },
       Throws::invalid_argument,
       {"view", "-2"}},
      {"flatten start_dim 1 after end_dim 0",
       [] {
         flatten(zeros({2, 3, 4}), 2, 0);
       },
       Throws::invalid_argument,
       {"flatten", "2", "0"}},
      {"squeeze dim 3 of a 2-D tensor",
       [] {
         squeeze(zeros({1, 3}), 3);
       },
       Throws::invalid_argument,
       {"squeeze", "3", "[1, 3]"}},
      {"unsqueeze dim 4 of a 2-D tensor",
       [] {
         unsqueeze(zeros({2, 3}), 4);
       },
       Throws::invalid_argument,
       {"unsqueeze", "4", "[2, 3]"}},
      {"expand [2, 3] to [2, 4]",
       [] {
         expand(zeros({2, 3}), {2, 4});
       },
       Throws::invalid_argument,
       {"expand", "[2, 3]", "[2, 4]"}},
      {"transpose dim 2 of a 2-D tensor",
       [] {
         transpose(zeros({2, 3}), 0, 2);
       },
       Throws::invalid_argument,
       {"transpose", "2", "[2, 3]"}},
      {"permute with 2 dims for a 3-D tensor",
       [] {
         permute(zeros({2, 3, 4}), {1, 0});
       },
       Throws::invalid_argument,
       {"permute", "[2, 3, 4]"}},
      {"permute with a repeated dim",
       [] {
         permute(zeros({2, 3, 4}), {0, 0, 1});
       },
       Throws::invalid_argument,
       {"permute", "0", "[2, 3, 4]"}},

      // ---- indexing
      {"index_select index 5 of size 3",
       [] {
         index_select(zeros({3, 2}), 0, tensor({0, 5}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"index_select", "5", "3"}},
      {"index_select index -1",
       [] {
         index_select(zeros({3, 2}), 0, tensor({-1}, {1}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"index_select", "-1", "3"}},
      {"index_select with a 2-D index",
       [] {
         index_select(zeros({3, 2}), 0, zeros({1, 1}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"index_select", "[1, 1]"}},
      {"index_select with a fractional float index",
       [] {
         index_select(zeros({3, 2}), 0, tensor({0.5}));
       },
       Throws::invalid_argument,
       {"index_select", "0.5"}},
      {"gather index 4 along a dim of size 2",
       [] {
         gather(zeros({3, 2}), 1, tensor({0, 4, 1}, {3, 1}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"gather", "4", "2"}},
      {"gather with an index of another rank",
       [] {
         gather(zeros({3, 2}), 1, zeros({3}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"gather", "[3]", "[3, 2]"}},
      {"scatter_add index 7 into a dim of size 3",
       [] { scatter_add(zeros({3}), 0, tensor({7}, {1}, Dtype::int64), ones({1})); },
       Throws::invalid_argument,
       {"scatter_add", "7", "3"}},
      {"index_add index 3 into a dim of size 3",
       [] {
         index_add(zeros({3, 2}), 0, tensor({3}, {1}, Dtype::int64), ones({1, 2}));
       },
       Throws::invalid_argument,
       {"index_add", "3"}},
      {"index_add source [2, 2] for 1 index",
       [] {
         index_add(zeros({3, 2}), 0, tensor({1}, {1}, Dtype::int64), ones({2, 2}));
       },
       Throws::invalid_argument,
       {"index_add", "[2, 2]"}},
      {"index_fill index 9",
       [] { index_fill(zeros({3}), 0, tensor({9}, {1}, Dtype::int64), 1.0); },
       Throws::invalid_argument,
       {"index_fill", "9", "3"}},
      {"index_copy source [2] for 1 index",
       [] { index_copy(zeros({3}), 0, tensor({0}, {1}, Dtype::int64), ones({2})); },
       Throws::invalid_argument,
       {"index_copy", "[2]"}},
      {"index_put index 5 of size 3",
       [] { index_put(zeros({3}), {tensor({5}, {1}, Dtype::int64)}, ones({1})); },
       Throws::invalid_argument,
       {"index_put", "5", "3"}},
      {"masked_fill mask [3] on [2, 2]",
       [] {
         masked_fill(zeros({2, 2}), ones({3}), 0.0);
       },
       Throws::invalid_argument,
       {"masked_fill", "[3]", "[2, 2]"}},
      {"one_hot index 3 with 3 classes",
       [] {
         one_hot(tensor({0, 3}, {2}, Dtype::int64), 3);
       },
       Throws::invalid_argument,
       {"one_hot", "3"}},
      {"one_hot index -1",
       [] { one_hot(tensor({-1}, {1}, Dtype::int64), 3); },
       Throws::invalid_argument,
       {"one_hot", "-1"}},
      {"narrow 2 + 3 past a dim of size 4",
       [] { narrow(zeros({4}), 0, 2, 3); },
       Throws::invalid_argument,
       {"narrow", "2", "3", "4"}},
      {"narrow on dim 1 of a 1-D tensor",
       [] { narrow(zeros({4}), 1, 0, 1); },
       Throws::invalid_argument,
       {"narrow", "1", "[4]"}},
      {"select index 4 of size 4",
       [] {
         select(zeros({4, 2}), 0, 4);
       },
       Throws::invalid_argument,
       {"select", "4", "[4, 2]"}},
      {"select index -5 of size 4",
       [] {
         select(zeros({4, 2}), 0, -5);
       },
       Throws::invalid_argument,
       {"select", "-5", "[4, 2]"}},
      {"slice with step 0",
       [] { slice(zeros({4}), 0, 0, 4, 0); },
       Throws::invalid_argument,
       {"slice", "step", "0"}},
      {"size(2) of a 2-D tensor",
       [] {
         zeros({2, 3}).size(2);
       },
       Throws::invalid_argument,
       {"size", "2", "[2, 3]"}},

      // ---- reductions over dims that do not exist
      {"sum over dim 2 of a 2-D tensor",
       [] {
         sum(zeros({2, 3}), {2});
       },
       Throws::invalid_argument,
       {"sum", "2", "[2, 3]"}},
      {"mean over dim -3 of a 2-D tensor",
       [] {
         mean(zeros({2, 3}), {-3});
       },
       Throws::invalid_argument,
       {"mean", "-3", "[2, 3]"}},
      {"sum over dim 0 twice",
       [] {
         sum(zeros({2, 3}), {0, 0});
       },
       Throws::invalid_argument,
       {"sum", "dimension 0 repeated", "[2, 3]"}},
      {"max over dim 5",
       [] {
         max(zeros({2, 3}), 5);
       },
       Throws::invalid_argument,
       {"max", "5", "[2, 3]"}},
      {"argmax over dim 2",
       [] {
         argmax(zeros({2, 3}), 2);
       },
       Throws::invalid_argument,
       {"argmax", "2", "[2, 3]"}},
      {"softmax over dim 2",
       [] {
         softmax(zeros({2, 3}), 2);
       },
       Throws::invalid_argument,
       {"softmax", "2", "[2, 3]"}},
      {"log_softmax over dim -3",
       [] {
         log_softmax(zeros({2, 3}), -3);
       },
       Throws::invalid_argument,
       {"log_softmax", "-3", "[2, 3]"}},
      {"logsumexp over dim 2",
       [] {
         logsumexp(zeros({2, 3}), {2});
       },
       Throws::invalid_argument,
       {"logsumexp", "2", "[2, 3]"}},
      {"var over dim 3",
       [] {
         var(zeros({2, 3}), {3});
       },
       Throws::invalid_argument,
       {"var", "3", "[2, 3]"}},
      {"max of an empty tensor", [] { max(zeros({0})); }, Throws::invalid_argument, {"max", "[0]"}},
      {"argmax of an empty tensor",
       [] {
         argmax(zeros({0, 3}), 0);
       },
       Throws::invalid_argument,
       {"argmax", "[0, 3]"}},

      // ---- creation and values
      {"tensor with 3 values for shape [2, 2]",
       [] {
         tensor({1, 2, 3}, {2, 2});
       },
       Throws::invalid_argument,
       {"tensor", "3", "[2, 2]", "4"}},
      {"item of a [2] tensor",
       [] { zeros({2}).item<float>(); },
       Throws::invalid_argument,
       {"item", "[2]"}},
      {"zeros of a shape too large to hold",
       [] {
         zeros({std::size_t(1) << 40, std::size_t(1) << 40});
       },
       Throws::invalid_argument,
       {"too many elements"}},
      {"arange with step 0",
       [] { arange(0, 1, 0); },
       Throws::invalid_argument,
       {"arange", "step", "0"}},
      {"randint with low 5 >= high 5",
       [] { randint(5, 5, {2}); },
       Throws::invalid_argument,
       {"randint", "5"}},
      {"dropout with p 1.5",
       [] { dropout(ones({2}), 1.5, true); },
       Throws::invalid_argument,
       {"dropout", "1.5"}},
      {"to(int64) of a nan",
       [] { tensor({std::nan("")}).to(Dtype::int64); },
       Throws::invalid_argument,
       {"nan"}},
      // ---- more values and dtypes
      {"tensor int64 holding a nan",
       [] { tensor({std::nan("")}, {1}, Dtype::int64); },
       Throws::invalid_argument,
       {"tensor", "nan", "int64"}},
      {"full int64 with 1e30",
       [] { full({1}, 1e30, Dtype::int64); },
       Throws::invalid_argument,
       {"full", "1e+30", "int64"}},
      {"arange from 0 to 1e30",
       [] { arange(0, 1e30); },
       Throws::invalid_argument,
       {"arange", "1e+30", "too many"}},
      {"clamp with min 2 above max 1",
       [] { clamp(zeros({2}), 2.0, 1.0); },
       Throws::invalid_argument,
       {"clamp", "2", "1"}},
      {"pow of int64",
       [] { pow(ones({2}, Dtype::int64), 2.0); },
       Throws::invalid_argument,
       {"pow", "int64"}},
      {"leaky_relu of int64",
       [] { leaky_relu(ones({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"leaky_relu", "int64"}},
      {"in-place div_ of int64",
       [] { ones({2}, Dtype::int64).div_(2.0); },
       Throws::invalid_argument,
       {"div_", "int64"}},
      {"in-place add_ of 0.5 to int64",
       [] { ones({2}, Dtype::int64).add_(0.5); },
       Throws::invalid_argument,
       {"add_", "int64"}},
      {"sum_to [2, 3] -> [4]",
       [] {
         sum_to(zeros({2, 3}), {4});
       },
       Throws::invalid_argument,
       {"sum_to", "[2, 3]", "[4]"}},
      {"index_select on dim 1 of a 1-D tensor",
       [] { index_select(zeros({3}), 1, tensor({0}, {1}, Dtype::int64)); },
       Throws::invalid_argument,
       {"index_select", "1", "[3]"}},
      {"one_hot with 0 classes",
       [] { one_hot(tensor({0}, {1}, Dtype::int64), 0); },
       Throws::invalid_argument,
       {"one_hot", "0 classes"}},
      {"narrow with length -1",
       [] { narrow(zeros({4}), 0, 1, -1); },
       Throws::invalid_argument,
       {"narrow", "-1", "[4]"}},
      {"expand [2, 3] to [3]",
       [] {
         expand(zeros({2, 3}), {3});
       },
       Throws::invalid_argument,
       {"expand", "[2, 3]", "[3]"}},
      {"to_vector of an undefined tensor",
       [] { Tensor().to_vector<float>(); },
       Throws::invalid_argument,
       {"to_vector", "undefined"}},
  };
  run_table(rows);
}

TEST_CASE("misuse table: autograd engine") {
  const std::vector<Row> rows = {
      {"backward twice without retain_graph",
       [] {
         Tensor x = leaf({3});
         Tensor y = (x * x).sum();
         y.backward();
         y.backward();
       },
       Throws::runtime_error,
       {"second time", "SumBackward", "retain_graph"}},
      {"backward on a [3] output without a gradient",
       [] {
         Tensor x = leaf({3});
         (x * 2.0).backward();
       },
       Throws::invalid_argument,
       {"backward", "[3]", "one-element"}},
      {"backward with a gradient of the wrong shape",
       [] {
         Tensor x = leaf({3});
         (x * 2.0).backward(ones({2}));
       },
       Throws::invalid_argument,
       {"backward", "[2]", "[3]"}},
      {"backward with a gradient of the wrong dtype",
       [] {
         Tensor x = leaf({3});
         (x * 2.0).backward(ones({3}, Dtype::float64));
       },
       Throws::invalid_argument,
       {"backward", "float64", "float32"}},
      {"backward of a tensor that does not require grad",
       [] { ones({1}).sum().backward(); },
       Throws::invalid_argument,
       {"backward", "does not require grad"}},
      {"backward of an undefined tensor",
       [] { Tensor().backward(); },
       Throws::invalid_argument,
       {"undefined"}},
      {"grad of an input that does not require grad",
       [] {
         Tensor x = leaf({3});
         Tensor c = ones({3});
         xg::grad({(x * c).sum()}, {c});
       },
       Throws::invalid_argument,
       {"grad", "input 0", "[3]", "does not require grad"}},
      {"grad of an input the output does not use",
       [] {
         Tensor x = leaf({3}), z = leaf({2});
         xg::grad({(x * x).sum()}, {z});
       },
       Throws::invalid_argument,
       {"grad", "[2]", "allow_unused"}},
      {"grad with 2 gradients for 1 output",
       [] {
         Tensor x = leaf({3});
         xg::grad({x * 2.0}, {x}, {ones({3}), ones({3})});
       },
       Throws::invalid_argument,
       {"grad", "1", "2"}},
      {"in-place change of a tensor saved by exp",
       [] {
         Tensor x = leaf({3});
         Tensor y = exp(x);
         Tensor z = y.sum();
         y.mul_(2.0);
         z.backward();
       },
       Throws::runtime_error,
       {"ExpBackward", "[3]", "version 0", "version 1"}},
      {"in-place change of an input saved by mul",
       [] {
         Tensor x = leaf({2});
         Tensor w = ones({2});
         Tensor y = (x * w).sum();
         w.add_(1.0);
         y.backward();
       },
       Throws::runtime_error,
       {"MulBackward", "[2]", "in-place"}},
      {"in-place op on a leaf that requires grad",
       [] {
         Tensor x = leaf({2});
         x.add_(1.0);
       },
       Throws::invalid_argument,
       {"add_", "leaf", "requires grad"}},
      {"requires_grad_ on a non-leaf",
       [] {
         Tensor x = leaf({2});
         (x * 2.0).requires_grad_(false);
       },
       Throws::invalid_argument,
       {"requires_grad_", "leaf", "MulBackward"}},
      {"NaN under anomaly mode names the op",
       [] {
         AnomalyModeGuard anomaly;
         Tensor x = zeros({3}).requires_grad_();
         sqrt(x).sum().backward();
       },
       Throws::runtime_error,
       {"anomaly", "SqrtBackward", "[3]", "nan or inf"}},
      {"set_grad of the wrong shape",
       [] { leaf({3}).set_grad(ones({2})); },
       Throws::invalid_argument,
       {"set_grad", "[2]", "[3]"}},
      {"retain_grad without requires_grad",
       [] { ones({2}).retain_grad(); },
       Throws::invalid_argument,
       {"retain_grad", "does not require grad"}},
      {"register_hook without requires_grad",
       [] { ones({2}).register_hook([](const Tensor& g) { return g; }); },
       Throws::invalid_argument,
       {"register_hook", "does not require grad"}},
      {"a hook returning a gradient of the wrong shape",
       [] {
         Tensor x = leaf({3});
         Tensor y = x * 2.0;
         y.register_hook([](const Tensor&) { return ones({2}); });
         y.sum().backward();
       },
       Throws::invalid_argument,
       {"register_hook", "[2]", "[3]"}},
      {"a custom function returning a gradient of the wrong shape",
       [] {
         struct BadGrad : Function<BadGrad> {
           static Tensor forward(AutogradContext&, const Tensor& x) { return x * 2.0; }
           static TensorList backward(AutogradContext&, const TensorList&) { return {ones({2})}; }
         };
         BadGrad::apply(leaf({3})).sum().backward();
       },
       Throws::invalid_argument,
       {"BadGradBackward", "[2]", "[3]"}},
      {"gradcheck of a float32 input",
       [] { gradcheck([](const TensorList& in) { return in[0].sum(); }, {leaf({2})}); },
       Throws::invalid_argument,
       {"gradcheck", "float32", "float64"}},
      {"backward of an int64 tensor",
       [] { ones({1}, Dtype::int64).backward(); },
       Throws::invalid_argument,
       {"backward", "[1]", "does not require grad"}},
      {"backward of 1 tensor with 2 gradients",
       [] {
         Tensor x = leaf({2});
         xg::backward({x.sum()}, {ones({}), ones({})});
       },
       Throws::invalid_argument,
       {"backward", "1 tensors", "2 gradients"}},
      {"gradcheck of a function returning an undefined tensor",
       [] { gradcheck([](const TensorList&) { return Tensor(); }, {leaf({2}, Dtype::float64)}); },
       Throws::invalid_argument,
       {"gradcheck", "undefined"}},
  };
  run_table(rows);
}

// =============================================================================== nn

TEST_CASE("misuse table: nn layers and modules") {
  const std::vector<Row> rows = {
      // ---- layers: options checked in the constructor, inputs in forward
      {"Linear with in_features -1",
       [] { nn::Linear(-1, 3); },
       Throws::invalid_argument,
       {"Linear", "in_features", "-1"}},
      {"Linear(784, 256) on [8, 100]",
       [] {
         nn::Linear(784, 256)(zeros({8, 100}));
       },
       Throws::invalid_argument,
       {"Linear", "[8, 100]", "784"}},
      {"Linear(4, 2) on float64 input",
       [] {
         nn::Linear(4, 2)(zeros({3, 4}, Dtype::float64));
       },
       Throws::invalid_argument,
       {"float32", "float64"}},
      {"Linear(4, 2) on int64 input",
       [] {
         nn::Linear(4, 2)(zeros({3, 4}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"int64"}},
      {"Conv2d(3, 8, 3) on a 1-channel image",
       [] {
         nn::Conv2d(3, 8, 3)(zeros({1, 1, 28, 28}));
       },
       Throws::invalid_argument,
       {"Conv2d", "[1, 1, 28, 28]", "3"}},
      {"Conv2d kernel 5 on a 3x3 image",
       [] {
         nn::Conv2d(1, 1, 5)(zeros({1, 1, 3, 3}));
       },
       Throws::invalid_argument,
       {"[1, 1, 3, 3]", "5"}},
      {"Conv2d on a 2-D input",
       [] {
         nn::Conv2d(1, 1, 3)(zeros({5, 5}));
       },
       Throws::invalid_argument,
       {"Conv2d", "[5, 5]"}},
      {"Conv2d 3 channels in 2 groups",
       [] { nn::Conv2d(nn::Conv2dOptions(3, 8, 3).groups(2)); },
       Throws::invalid_argument,
       {"Conv2d", "groups", "3"}},
      {"Conv2d kernel given as 3 numbers",
       [] {
         nn::Conv2d(nn::Conv2dOptions(1, 1, {3, 3, 3}));
       },
       Throws::invalid_argument,
       {"Conv2d", "kernel_size", "3"}},
      {"Conv2d stride 0",
       [] { nn::Conv2d(nn::Conv2dOptions(1, 1, 3).stride(0)); },
       Throws::invalid_argument,
       {"Conv2d", "stride", "0"}},
      {"MaxPool2d kernel 0",
       [] { nn::MaxPool2d(0); },
       Throws::invalid_argument,
       {"MaxPool2d", "kernel_size", "0"}},
      {"MaxPool2d padding above half the kernel",
       [] { nn::MaxPool2d(nn::MaxPool2dOptions(2).padding(2)); },
       Throws::invalid_argument,
       {"MaxPool2d", "padding", "2"}},
      {"MaxPool2d(3) on a 2x2 image",
       [] {
         nn::MaxPool2d(3)(zeros({1, 1, 2, 2}));
       },
       Throws::invalid_argument,
       {"[1, 1, 2, 2]", "3"}},
      {"AvgPool2d on a 1-D input",
       [] { nn::AvgPool2d(2)(zeros({4})); },
       Throws::invalid_argument,
       {"AvgPool2d", "[4]"}},
      {"AdaptiveAvgPool2d output size 0",
       [] { nn::AdaptiveAvgPool2d(0); },
       Throws::invalid_argument,
       {"AdaptiveAvgPool2d", "0"}},
      {"BatchNorm1d(5) on [4, 3]",
       [] {
         nn::BatchNorm1d(5)(zeros({4, 3}));
       },
       Throws::invalid_argument,
       {"BatchNorm1d", "5", "[4, 3]"}},
      {"BatchNorm1d on a 4-D input",
       [] {
         nn::BatchNorm1d(3)(zeros({2, 3, 4, 4}));
       },
       Throws::invalid_argument,
       {"BatchNorm1d", "[2, 3, 4, 4]"}},
      {"BatchNorm2d on a 2-D input",
       [] {
         nn::BatchNorm2d(3)(zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"BatchNorm2d", "[2, 3]"}},
      {"BatchNorm1d training on one value per channel",
       [] {
         nn::BatchNorm1d(3)(zeros({1, 3}));
       },
       Throws::invalid_argument,
       {"BatchNorm1d", "[1, 3]", "more than 1 value"}},
      {"BatchNorm with 0 features",
       [] { nn::BatchNorm2d(0); },
       Throws::invalid_argument,
       {"BatchNorm2d", "num_features", "0"}},
      {"Dropout p 1.5", [] { nn::Dropout(1.5); }, Throws::invalid_argument, {"Dropout", "1.5"}},
      {"Flatten start_dim 3 of a 2-D input",
       [] {
         nn::Flatten(3)(zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"flatten", "3", "[2, 3]"}},
      {"Softmax over dim 2 of a 2-D input",
       [] {
         nn::Softmax(2)(zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"softmax", "2", "[2, 3]"}},
      {"GELU approximate \"fast\"",
       [] { nn::GELU(nn::GELUOptions().approximate("fast")); },
       Throws::invalid_argument,
       {"GELU", "fast"}},
      {"MLP with one size", [] { nn::MLP({784}); }, Throws::invalid_argument, {"MLP", "784"}},
      {"MLP activation \"swish\"",
       [] {
         nn::MLP({4, 2}, "swish");
       },
       Throws::invalid_argument,
       {"MLP", "swish"}},
      {"MLP dropout 1",
       [] {
         nn::MLP({4, 2}, "relu", 1.0);
       },
       Throws::invalid_argument,
       {"MLP", "dropout", "1"}},
      {"MLP {784, 10} on [2, 100]",
       [] {
         nn::MLP({784, 10})(zeros({2, 100}));
       },
       Throws::invalid_argument,
       {"[2, 100]", "784"}},
      {"CNN for 2x2 images with three pooled blocks",
       [] {
         nn::CNN(nn::CNNOptions().image_size(2).channels({4, 4, 4}));
       },
       Throws::invalid_argument,
       {"CNN", "image_size"}},
      {"CNN with no conv block",
       [] { nn::CNN(nn::CNNOptions().channels({})); },
       Throws::invalid_argument,
       {"CNN", "channels"}},
      {"CNN on a 3-channel image",
       [] {
         nn::CNN()(zeros({1, 3, 28, 28}));
       },
       Throws::invalid_argument,
       {"[1, 3, 28, 28]"}},
      {"Sequential of mismatched Linears",
       [] {
         nn::Sequential s(std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::Linear>(5, 2));
         s(zeros({2, 4}));
       },
       Throws::invalid_argument,
       {"[2, 3]", "5"}},
      {"Sequential index 3 of 2",
       [] { nn::Sequential(std::make_shared<nn::ReLU>(), std::make_shared<nn::ReLU>())[3]; },
       Throws::invalid_argument,
       {"Sequential", "3", "2"}},
      {"Sequential::at<Linear> of a ReLU",
       [] { nn::Sequential(std::make_shared<nn::ReLU>()).at<nn::Linear>(0); },
       Throws::invalid_argument,
       {"Sequential::at", "0", "ReLU"}},
      {"Sequential::push_back of a null module",
       [] { nn::Sequential().push_back(std::shared_ptr<nn::Module>()); },
       Throws::invalid_argument,
       {"Sequential", "null"}},

      // ---- modules: registration
      {"a module used before its parameter is registered",
       [] {
         struct Early : nn::Module {
           Early() : Module("Early") {
             local("weight");  // read before register_parameter
             register_parameter("weight", zeros({2}));
           }
         };
         Early e;
       },
       Throws::invalid_argument,
       {"Early", "weight"}},
      {"a submodule name registered twice",
       [] {
         struct Clash : nn::Module {
           Clash() : Module("Clash") {
             register_module("fc", std::make_shared<nn::Linear>(2, 2));
             register_module("fc", std::make_shared<nn::Linear>(2, 2));
           }
         };
         Clash c;
       },
       Throws::invalid_argument,
       {"Clash", "fc", "already registered"}},
      {"a submodule named like a parameter",
       [] {
         struct Clash : nn::Module {
           Clash() : Module("Clash") {
             register_parameter("w", zeros({2}));
             register_module("w", std::make_shared<nn::Linear>(2, 2));
           }
         };
         Clash c;
       },
       Throws::invalid_argument,
       {"Clash", "\"w\"", "already registered"}},
      {"a submodule name with a dot",
       [] {
         struct Dotted : nn::Module {
           Dotted() : Module("Dotted") { register_module("a.b", std::make_shared<nn::ReLU>()); }
         };
         Dotted d;
       },
       Throws::invalid_argument,
       {"Dotted", "a.b", "'.'"}},
      {"an optimizer over a model whose only layer was never registered",
       [] {
         struct Forgot : nn::Module {
           std::shared_ptr<nn::Linear> fc = std::make_shared<nn::Linear>(4, 2);  // not registered
           Forgot() : Module("Forgot") {}
           Tensor forward(const Tensor& x) override { return (*fc)(x); }
         };
         Forgot m;
         optim::SGD(m.parameters(), 0.1);
       },
       Throws::invalid_argument,
       {"SGD", "empty parameter list", "register_module"}},
      {"an empty parameter name",
       [] { nn::Module("Net").register_parameter("", zeros({2})); },
       Throws::invalid_argument,
       {"Net", "empty"}},
      {"a null submodule",
       [] {
         struct Null : nn::Module {
           Null() : Module("Null") { register_module("fc", std::shared_ptr<nn::Linear>()); }
         };
         Null n;
       },
       Throws::invalid_argument,
       {"Null", "fc", "null"}},
      {"a parameter made by an op (not a leaf)",
       [] { nn::Module("Net").register_parameter("w", leaf({2}) * 2.0); },
       Throws::invalid_argument,
       {"Net", "w", "MulBackward"}},
      {"an int64 parameter",
       [] { nn::Module("Net").register_parameter("w", zeros({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"Net", "w", "int64"}},
      {"local() of a name that is not registered",
       [] { nn::Linear(2, 2).local("kernel"); },
       Throws::invalid_argument,
       {"Linear", "kernel"}},
      {"forward of a module that does not define it",
       [] { nn::Module("Net")(zeros({2})); },
       Throws::invalid_argument,
       {"Net", "forward"}},
      {"a loss called with one tensor",
       [] {
         nn::CrossEntropyLoss loss;
         static_cast<nn::Module&>(loss)(zeros({2, 3}));
       },
       Throws::invalid_argument,
       {"CrossEntropyLoss", "target"}},
      {"module.to(int64)",
       [] { nn::Linear(2, 2).to(Dtype::int64); },
       Throws::invalid_argument,
       {"Linear", "int64"}},

      // ---- state dicts (in memory): every problem named, nothing changed
      {"load_state_dict with a missing key",
       [] {
         TwoLayer m;
         auto sd = m.state_dict();
         sd.pop_back();
         const auto before = values_of(m);
         try {
           m.load_state_dict(sd);
         } catch (...) {
           CHECK(values_of(m) == before);
           throw;
         }
       },
       Throws::invalid_argument,
       {"TwoLayer", "load_state_dict", "fc2.bias", "missing"}},
      {"load_state_dict with an unexpected key",
       [] {
         TwoLayer m;
         auto sd = m.state_dict();
         sd.emplace_back("fc3.weight", zeros({2, 2}));
         m.load_state_dict(sd);
       },
       Throws::invalid_argument,
       {"TwoLayer", "fc3.weight", "unexpected"}},
      {"load_state_dict with a [3, 5] tensor for a [3, 4] weight",
       [] {
         TwoLayer m;
         TwoLayer other(5);
         const auto before = values_of(m);
         try {
           m.load_state_dict(other.state_dict());
         } catch (...) {
           CHECK(values_of(m) == before);
           throw;
         }
       },
       Throws::invalid_argument,
       {"fc1.weight", "[3, 5]", "[3, 4]"}},
      {"load_state_dict with float64 values for float32 weights",
       [] {
         TwoLayer m, other;
         other.to(Dtype::float64);
         m.load_state_dict(other.state_dict());
       },
       Throws::invalid_argument,
       {"fc1.weight", "float64", "float32"}},
      {"load_state_dict non-strict still refuses a shape mismatch",
       [] {
         TwoLayer m;
         m.load_state_dict({{"fc1.weight", zeros({1, 1})}}, false);
       },
       Throws::invalid_argument,
       {"fc1.weight", "[1, 1]", "[3, 4]"}},
      {"Conv2d padding -1",
       [] { nn::Conv2d(nn::Conv2dOptions(1, 1, 3).padding(-1)); },
       Throws::invalid_argument,
       {"Conv2d", "padding", "-1"}},
      {"MLP with a layer of width 0",
       [] {
         nn::MLP({4, 0, 2});
       },
       Throws::invalid_argument,
       {"MLP", "[4, 0, 2]"}},
      {"BatchNorm momentum 2",
       [] { nn::BatchNorm1d(nn::BatchNormOptions(3).momentum(2.0)); },
       Throws::invalid_argument,
       {"BatchNorm1d", "momentum", "2.0"}},
      {"BatchNorm eps -1",
       [] { nn::BatchNorm1d(nn::BatchNormOptions(3).eps(-1)); },
       Throws::invalid_argument,
       {"BatchNorm1d", "eps", "-1"}},
      {"Dropout p -0.1", [] { nn::Dropout(-0.1); }, Throws::invalid_argument, {"Dropout", "-0.1"}},
      {"Sequential::push_back of a name already used",
       [] {
         nn::Sequential s;
         s.push_back("a", std::make_shared<nn::ReLU>());
         s.push_back("a", std::make_shared<nn::ReLU>());
       },
       Throws::invalid_argument,
       {"Sequential", "\"a\"", "already registered"}},
      {"load_state_dict with an undefined tensor",
       [] {
         TwoLayer m;
         auto sd = m.state_dict();
         sd[0].second = Tensor();
         m.load_state_dict(sd);
       },
       Throws::invalid_argument,
       {"TwoLayer", "fc1.weight", "undefined"}},
      {"load_state_dict with a key given twice",
       [] {
         TwoLayer m;
         auto sd = m.state_dict();
         sd.push_back(sd[0]);
         m.load_state_dict(sd);
       },
       Throws::invalid_argument,
       {"TwoLayer", "duplicate", "fc1.weight"}},
  };
  run_table(rows);
}

TEST_CASE("misuse table: nn losses and metrics") {
  const std::vector<Row> rows = {
      // ---- cross_entropy: classes, shapes, dtypes, options
      {"cross_entropy label 3 with 3 classes",
       [] {
         F::cross_entropy(zeros({2, 3}), tensor({0, 3}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"cross_entropy", "target 3", "3 classes"}},
      {"cross_entropy label -1",
       [] {
         F::cross_entropy(zeros({2, 3}), tensor({-1, 0}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"cross_entropy", "-1"}},
      {"cross_entropy fractional float label 0.5",
       [] {
         F::cross_entropy(zeros({2, 3}), tensor({0.5, 1}, {2}));
       },
       Throws::invalid_argument,
       {"cross_entropy", "0.5"}},
      {"cross_entropy [2, 3] logits with [3] labels",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({3}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"cross_entropy", "[2, 3]", "[3]"}},
      {"cross_entropy [2, 3] logits with [2, 4] probabilities",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({2, 4}));
       },
       Throws::invalid_argument,
       {"cross_entropy", "[2, 3]", "[2, 4]"}},
      {"cross_entropy of int64 logits",
       [] {
         F::cross_entropy(zeros({2, 3}, Dtype::int64), zeros({2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"cross_entropy", "int64"}},
      {"cross_entropy of 0-d logits",
       [] { F::cross_entropy(scalar_tensor(1.0), scalar_tensor(0, Dtype::int64)); },
       Throws::invalid_argument,
       {"cross_entropy", "0-d"}},
      {"cross_entropy weight [4] for 3 classes",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({2}, Dtype::int64),
                          F::CrossEntropyFuncOptions().weight(ones({4})));
       },
       Throws::invalid_argument,
       {"cross_entropy", "weight", "[4]", "3"}},
      {"cross_entropy float64 weight for float32 logits",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({2}, Dtype::int64),
                          F::CrossEntropyFuncOptions().weight(ones({3}, Dtype::float64)));
       },
       Throws::invalid_argument,
       {"cross_entropy", "float64", "float32"}},
      {"cross_entropy label_smoothing 1.5",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({2}, Dtype::int64),
                          F::CrossEntropyFuncOptions().label_smoothing(1.5));
       },
       Throws::invalid_argument,
       {"cross_entropy", "label_smoothing", "1.5"}},
      {"CrossEntropyLoss label_smoothing -0.1",
       [] { nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().label_smoothing(-0.1)); },
       Throws::invalid_argument,
       {"CrossEntropyLoss", "label_smoothing", "-0.1"}},
      {"CrossEntropyLoss label 10 for 10 classes",
       [] {
         nn::CrossEntropyLoss()(zeros({1, 10}), tensor({10}, {1}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"cross_entropy", "10"}},
      // ---- nll_loss
      {"nll_loss label 5 with 3 classes",
       [] {
         F::nll_loss(zeros({2, 3}), tensor({5, 0}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"nll_loss", "5", "3"}},
      {"nll_loss label -2",
       [] {
         F::nll_loss(zeros({2, 3}), tensor({-2, 0}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"nll_loss", "-2"}},
      {"nll_loss [2, 3] with [2, 1] labels",
       [] {
         F::nll_loss(zeros({2, 3}), zeros({2, 1}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"nll_loss", "[2, 3]", "[2, 1]"}},
      {"NLLLoss weight [2] for 3 classes",
       [] {
         nn::NLLLoss(nn::NLLLossOptions().weight(ones({2})))(zeros({2, 3}),
                                                             zeros({2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"nll_loss", "weight", "[2]", "3"}},
      // ---- elementwise losses: shapes must match
      {"mse_loss [4, 1] against [4]",
       [] {
         F::mse_loss(zeros({4, 1}), zeros({4}));
       },
       Throws::invalid_argument,
       {"mse_loss", "[4, 1]", "[4]"}},
      {"mse_loss float32 against float64",
       [] { F::mse_loss(zeros({4}), zeros({4}, Dtype::float64)); },
       Throws::invalid_argument,
       {"mse_loss", "float32", "float64"}},
      {"mse_loss against int64 labels",
       [] { F::mse_loss(zeros({4}), zeros({4}, Dtype::int64)); },
       Throws::invalid_argument,
       {"mse_loss", "int64"}},
      {"MSELoss [3] against [2]",
       [] { nn::MSELoss()(zeros({3}), zeros({2})); },
       Throws::invalid_argument,
       {"mse_loss", "[3]", "[2]"}},
      {"l1_loss [2, 2] against [4]",
       [] {
         F::l1_loss(zeros({2, 2}), zeros({4}));
       },
       Throws::invalid_argument,
       {"l1_loss", "[2, 2]", "[4]"}},
      {"smooth_l1_loss [3] against [1]",
       [] { F::smooth_l1_loss(zeros({3}), zeros({1})); },
       Throws::invalid_argument,
       {"smooth_l1_loss", "[3]", "[1]"}},
      {"SmoothL1Loss beta -1",
       [] { nn::SmoothL1Loss(nn::SmoothL1LossOptions().beta(-1)); },
       Throws::invalid_argument,
       {"SmoothL1Loss", "beta", "-1"}},
      {"binary_cross_entropy [4] against [4, 1]",
       [] {
         F::binary_cross_entropy(full({4}, 0.5), zeros({4, 1}));
       },
       Throws::invalid_argument,
       {"binary_cross_entropy", "[4]", "[4, 1]"}},
      {"binary_cross_entropy of a probability 1.5",
       [] {
         F::binary_cross_entropy(tensor({0.5, 1.5}), zeros({2}));
       },
       Throws::invalid_argument,
       {"binary_cross_entropy", "1.5"}},
      {"binary_cross_entropy against int64 labels",
       [] { F::binary_cross_entropy(full({2}, 0.5), zeros({2}, Dtype::int64)); },
       Throws::invalid_argument,
       {"binary_cross_entropy", "int64"}},
      {"BCEWithLogitsLoss [3] against [2]",
       [] { nn::BCEWithLogitsLoss()(zeros({3}), zeros({2})); },
       Throws::invalid_argument,
       {"binary_cross_entropy_with_logits", "[3]", "[2]"}},
      {"binary_cross_entropy_with_logits pos_weight [3] for 2 classes",
       [] {
         F::binary_cross_entropy_with_logits(
             zeros({4, 2}), zeros({4, 2}),
             F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(ones({3})));
       },
       Throws::invalid_argument,
       {"binary_cross_entropy_with_logits", "pos_weight", "[3]"}},
      // ---- metrics
      {"accuracy of [4, 3] scores against [5] labels",
       [] {
         nn::accuracy(zeros({4, 3}), zeros({5}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"accuracy", "[4, 3]", "[5]"}},
      {"accuracy of no samples",
       [] {
         nn::accuracy(zeros({0, 3}), zeros({0}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"accuracy", "no samples"}},
      {"confusion_matrix label 4 with 3 classes",
       [] {
         nn::confusion_matrix(zeros({2, 3}), tensor({0, 4}, {2}, Dtype::int64), 3);
       },
       Throws::invalid_argument,
       {"confusion_matrix", "4", "3"}},
      {"ConfusionMatrix of 0 classes",
       [] { nn::ConfusionMatrix(0); },
       Throws::invalid_argument,
       {"ConfusionMatrix", "0"}},
      {"ConfusionMatrix(10) updated with 12 scores per sample",
       [] {
         nn::ConfusionMatrix(10).update(zeros({2, 12}), zeros({2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"12", "10"}},
      {"cross_entropy with int64 class weights",
       [] {
         F::cross_entropy(zeros({2, 3}), zeros({2}, Dtype::int64),
                          F::CrossEntropyFuncOptions().weight(ones({3}, Dtype::int64)));
       },
       Throws::invalid_argument,
       {"cross_entropy", "int64"}},
      {"nll_loss with a fractional float label 0.3",
       [] {
         F::nll_loss(zeros({2, 3}), tensor({0.3, 1}));
       },
       Throws::invalid_argument,
       {"nll_loss", "0.3"}},
      {"accuracy of a fractional class prediction 0.5",
       [] {
         nn::accuracy(tensor({0.5, 1}), tensor({0, 1}, {2}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"accuracy", "0.5"}},
      {"ConfusionMatrix::count of class 10 of 3",
       [] { nn::ConfusionMatrix(3).count(10, 0); },
       Throws::invalid_argument,
       {"ConfusionMatrix::count", "10", "3 classes"}},
  };
  run_table(rows);
}

TEST_CASE("misuse table: nn data, init, training, checkpoints") {
  TempDir tmp;
  const std::string good = tmp / "two_layer.safetensors";
  nn::save(TwoLayer(), good);
  const std::string garbage = tmp / "garbage.safetensors";
  write_file(garbage, "this is not a checkpoint at all");
  const std::string short_idx = tmp / "short-idx1-ubyte";
  write_file(short_idx, std::string("\0\0\x08\x01\0\0\0\x0a", 8) + "abc");
  const std::string a_file = tmp / "a_file";
  write_file(a_file, "x");

  const std::vector<Row> rows = {
      // ---- datasets and loaders
      {"DataLoader with batch size 0",
       [] {
         nn::DataLoader(nn::TensorDataset(zeros({4, 2}), zeros({4})), 0);
       },
       Throws::invalid_argument,
       {"DataLoader", "batch_size", "0"}},
      {"DataLoader of a null dataset",
       [] { nn::DataLoader(std::shared_ptr<const nn::Dataset>()); },
       Throws::invalid_argument,
       {"DataLoader", "null"}},
      {"DataLoader with a sampler and shuffle(true)",
       [] {
         nn::DataLoader(nn::TensorDataset(zeros({4, 2}), zeros({4})),
                        nn::DataLoaderOptions(2).shuffle(true).sampler(
                            std::make_shared<nn::DistributedSampler>(4, 2, 0)));
       },
       Throws::invalid_argument,
       {"DataLoader", "sampler", "shuffle"}},
      {"DistributedSampler with rank 2 of 2 replicas",
       [] { nn::DistributedSampler(10, 2, 2); },
       Throws::invalid_argument,
       {"DistributedSampler", "rank 2", "[0, 1]"}},
      {"DistributedSampler with 0 replicas",
       [] { nn::DistributedSampler(10, 0, 0); },
       Throws::invalid_argument,
       {"DistributedSampler", "num_replicas", "0"}},
      {"TensorDataset of [4, 2] data and [3] targets",
       [] {
         nn::TensorDataset(zeros({4, 2}), zeros({3}));
       },
       Throws::invalid_argument,
       {"TensorDataset", "[4, 2]", "[3]"}},
      {"TensorDataset of 0-d data",
       [] { nn::TensorDataset(scalar_tensor(1), zeros({1})); },
       Throws::invalid_argument,
       {"TensorDataset", "[]"}},
      {"TensorDataset::get(4) of 4 examples",
       [] {
         nn::TensorDataset(zeros({4, 2}), zeros({4})).get(4);
       },
       Throws::invalid_argument,
       {"TensorDataset", "4"}},
      {"Normalize with std 0",
       [] { nn::Normalize(0.5, 0.0); },
       Throws::invalid_argument,
       {"Normalize", "std", "0"}},
      {"Normalize with 3 means and 2 stds",
       [] {
         nn::Normalize({0, 0, 0}, {1, 1});
       },
       Throws::invalid_argument,
       {"Normalize", "3", "2"}},
      {"Normalize of 3 channels on a 1-channel image",
       [] {
         nn::Normalize({0, 0, 0}, {1, 1, 1})(zeros({2, 1, 4, 4}));
       },
       Throws::invalid_argument,
       {"Normalize", "3", "[2, 1, 4, 4]"}},
      {"FashionMNIST from a folder without the files",
       [] { nn::FashionMNIST("/nonexistent/fmnist", true); },
       Throws::runtime_error,
       {"/nonexistent/fmnist", "train-images-idx3-ubyte", "dataset-fashion-mnist"}},
      {"FashionMNIST test split from a folder without the files",
       [] { nn::FashionMNIST("/nonexistent/fmnist", false); },
       Throws::runtime_error,
       {"/nonexistent/fmnist", "t10k-images-idx3-ubyte"}},
      {"read_idx of a missing file",
       [] { nn::read_idx("/nonexistent/x-idx1-ubyte"); },
       Throws::runtime_error,
       {"read_idx", "/nonexistent/x-idx1-ubyte"}},
      {"read_idx of a file shorter than its header claims",
       [short_idx] { nn::read_idx(short_idx); },
       Throws::invalid_argument,
       {"read_idx", short_idx, "10", "3"}},
      {"make_blobs with 0 centers",
       [] { nn::make_blobs(10, 0); },
       Throws::invalid_argument,
       {"make_blobs", "0"}},
      {"make_spirals with 0 classes",
       [] { nn::make_spirals(10, 0); },
       Throws::invalid_argument,
       {"make_spirals", "0"}},

      // ---- init
      {"calculate_gain of \"swish\"",
       [] { nn::init::calculate_gain("swish"); },
       Throws::invalid_argument,
       {"calculate_gain", "swish", "relu"}},
      {"kaiming_uniform_ with mode \"fan_avg\"",
       [] {
         nn::init::kaiming_uniform_(zeros({3, 4}), 0, "fan_avg");
       },
       Throws::invalid_argument,
       {"kaiming_uniform_", "fan_avg"}},
      {"xavier_uniform_ of a 1-D tensor",
       [] { nn::init::xavier_uniform_(zeros({3})); },
       Throws::invalid_argument,
       {"[3]"}},
      {"normal_ of an int64 tensor",
       [] { nn::init::normal_(zeros({3}, Dtype::int64)); },
       Throws::invalid_argument,
       {"normal_", "int64"}},

      // ---- fit, evaluate, metrics CSV
      {"fit for 0 epochs",
       [] {
         TwoLayer m;
         nn::DataLoader loader(nn::TensorDataset(zeros({4, 4}), zeros({4}, Dtype::int64)), 2);
         optim::SGD opt(m.parameters(), 0.1);
         nn::fit(m, loader, opt, ce, nn::FitOptions().epochs(0).progress(false));
       },
       Throws::invalid_argument,
       {"fit", "epochs", "0"}},
      {"fit with a loss that is not a scalar",
       [] {
         TwoLayer m;
         nn::DataLoader loader(nn::TensorDataset(zeros({4, 4}), zeros({4, 2})), 2);
         optim::SGD opt(m.parameters(), 0.1);
         auto per_element = [](const Tensor& out, const Tensor& y) {
           return F::mse_loss(out, y, nn::Reduction::none);
         };
         nn::fit(m, loader, opt, per_element, nn::FitOptions().progress(false));
       },
       Throws::invalid_argument,
       {"fit", "[2, 2]", "one value"}},
      {"fit with labels the model's outputs cannot take (10 classes, 2 outputs)",
       [] {
         TwoLayer m;
         nn::DataLoader loader(
             nn::TensorDataset(zeros({4, 4}), tensor({9, 1, 0, 1}, {4}, Dtype::int64)), 4);
         optim::SGD opt(m.parameters(), 0.1);
         nn::fit(m, loader, opt, ce, nn::FitOptions().progress(false));
       },
       Throws::invalid_argument,
       {"cross_entropy", "9", "2"}},
      {"fit writing metrics to an unwritable folder",
       [] {
         TwoLayer m;
         nn::DataLoader loader(nn::TensorDataset(zeros({4, 4}), zeros({4}, Dtype::int64)), 2);
         optim::SGD opt(m.parameters(), 0.1);
         nn::fit(m, loader, opt, ce,
                 nn::FitOptions().progress(false).metrics_csv(kUnwritable + "/metrics.csv"));
       },
       Throws::runtime_error,
       {kUnwritable + "/metrics.csv"}},
      {"write_metrics_csv to an unwritable folder",
       [] { nn::write_metrics_csv({}, kUnwritable + "/m.csv"); },
       Throws::runtime_error,
       {"write_metrics_csv", kUnwritable + "/m.csv"}},

      // ---- checkpoints: other models, bad files, unwritable folders
      {"load a checkpoint with a missing key (the model is unchanged)",
       [&tmp] {
         auto sd = TwoLayer().state_dict();
         sd.pop_back();
         nn::save(sd, tmp / "missing.safetensors");
         load_must_not_change(tmp / "missing.safetensors");
       },
       Throws::invalid_argument,
       {"missing.safetensors", "fc2.bias", "missing"}},
      {"load a checkpoint with an extra key (the model is unchanged)",
       [&tmp] {
         auto sd = TwoLayer().state_dict();
         sd.emplace_back("fc3.weight", zeros({2, 2}));
         nn::save(sd, tmp / "extra.safetensors");
         load_must_not_change(tmp / "extra.safetensors");
       },
       Throws::invalid_argument,
       {"extra.safetensors", "fc3.weight", "unexpected"}},
      {"load a checkpoint of another shape (the model is unchanged)",
       [&tmp] {
         nn::save(TwoLayer(6), tmp / "wide.safetensors");
         load_must_not_change(tmp / "wide.safetensors");
       },
       Throws::invalid_argument,
       {"wide.safetensors", "fc1.weight", "[3, 6]", "[3, 4]"}},
      {"load a checkpoint of another model (the model is unchanged)",
       [&tmp] {
         nn::save(nn::MLP({4, 2}), tmp / "mlp.safetensors");
         load_must_not_change(tmp / "mlp.safetensors");
       },
       Throws::invalid_argument,
       {"mlp.safetensors", "layers.0.weight", "fc1.weight"}},
      {"load a file that is not a checkpoint (the model is unchanged)",
       [garbage] { load_must_not_change(garbage); },
       Throws::runtime_error,
       {garbage, "header"}},
      {"load a missing file",
       [] { load_must_not_change("/nonexistent/net.safetensors"); },
       Throws::runtime_error,
       {"/nonexistent/net.safetensors", "No such file"}},
      {"load a folder",
       [&tmp] { load_must_not_change(tmp.path.string()); },
       Throws::runtime_error,
       {tmp.path.string(), "not a regular file"}},
      {"save into an unwritable folder",
       [] { nn::save(TwoLayer(), kUnwritable + "/net.safetensors"); },
       Throws::runtime_error,
       {"save", kUnwritable + "/net.safetensors"}},
      {"save under a path whose folder is a file",
       [a_file] { nn::save(TwoLayer(), a_file + "/net.safetensors"); },
       Throws::runtime_error,
       {a_file + "/net.safetensors"}},
      {"save two tensors with one name",
       [&tmp] {
         nn::save({{"w", zeros({2})}, {"w", zeros({2})}}, tmp / "dup.safetensors");
       },
       Throws::invalid_argument,
       {"dup.safetensors", "\"w\"", "twice"}},
      {"save an undefined tensor",
       [&tmp] {
         nn::save({{"w", Tensor()}}, tmp / "undef.safetensors");
       },
       Throws::invalid_argument,
       {"undef.safetensors", "\"w\"", "undefined"}},
      {"read_header of a file cut short",
       [&tmp, good] {
         std::ifstream in(good, std::ios::binary);
         std::string bytes((std::istreambuf_iterator<char>(in)), {});
         write_file(tmp / "cut.safetensors", bytes.substr(0, bytes.size() - 7));
         nn::load_file(tmp / "cut.safetensors");
       },
       Throws::runtime_error,
       {"cut.safetensors", "bytes"}},
      {"Normalize of an int64 tensor",
       [] {
         nn::Normalize(0.5, 0.5)(zeros({2, 3}, Dtype::int64));
       },
       Throws::invalid_argument,
       {"Normalize", "int64"}},
      {"fit with a scheduler of another optimizer",
       [] {
         TwoLayer m;
         nn::DataLoader loader(nn::TensorDataset(zeros({4, 4}), zeros({4}, Dtype::int64)), 2);
         optim::SGD opt(m.parameters(), 0.1), other({leaf({2})}, 0.1);
         optim::StepLR sched(other, 1);
         nn::fit(m, loader, opt, ce, nn::FitOptions().progress(false).scheduler(sched));
       },
       Throws::invalid_argument,
       {"fit", "scheduler", "another optimizer"}},
      {"fit with an optimizer of another model's parameters",
       [] {
         TwoLayer m, other;
         nn::DataLoader loader(nn::TensorDataset(zeros({4, 4}), zeros({4}, Dtype::int64)), 2);
         optim::SGD opt(other.parameters(), 0.1);
         nn::fit(m, loader, opt, ce, nn::FitOptions().progress(false));
       },
       Throws::invalid_argument,
       {"fit", "4 parameters", "TwoLayer"}},
  };
  run_table(rows);
}

// =============================================================================== optim

TEST_CASE("misuse table: optim") {
  const std::vector<Row> rows = {
      // ---- parameters
      {"SGD with no parameters",
       [] { optim::SGD(std::vector<Tensor>{}, 0.1); },
       Throws::invalid_argument,
       {"SGD", "empty parameter list"}},
      {"Adam with a model without parameters",
       [] { optim::Adam(nn::Sequential(std::make_shared<nn::ReLU>()).parameters()); },
       Throws::invalid_argument,
       {"Adam", "empty parameter list"}},
      {"SGD with the same parameter twice",
       [] {
         Tensor w = leaf({2});
         optim::SGD({w, w}, 0.1);
       },
       Throws::invalid_argument,
       {"SGD", "[2]", "more than one"}},
      {"SGD with one parameter in two groups",
       [] {
         Tensor w = leaf({2});
         optim::SGD(std::vector<optim::ParamGroup>{{{w}}, {{w}}}, 0.1);
       },
       Throws::invalid_argument,
       {"SGD", "more than one"}},
      {"add_param_group with a parameter already optimized",
       [] {
         Tensor w = leaf({2});
         optim::SGD opt({w}, 0.1);
         opt.add_param_group({{w}});
       },
       Throws::invalid_argument,
       {"SGD", "more than one"}},
      {"SGD of a tensor made by an op",
       [] { optim::SGD({leaf({2}) * 2.0}, 0.1); },
       Throws::invalid_argument,
       {"SGD", "non-leaf"}},
      {"SGD of an undefined tensor",
       [] { optim::SGD({Tensor()}, 0.1); },
       Throws::invalid_argument,
       {"SGD", "undefined"}},
      // ---- options
      {"SGD lr -0.1",
       [] { optim::SGD({leaf({2})}, -0.1); },
       Throws::invalid_argument,
       {"SGD", "learning rate", "-0.1"}},
      {"SGD lr nan",
       [] { optim::SGD({leaf({2})}, std::nan("")); },
       Throws::invalid_argument,
       {"SGD", "learning rate", "nan"}},
      {"SGD momentum -0.9",
       [] { optim::SGD({leaf({2})}, optim::SGDOptions(0.1).momentum(-0.9)); },
       Throws::invalid_argument,
       {"SGD", "momentum", "-0.9"}},
      {"SGD nesterov without momentum",
       [] { optim::SGD({leaf({2})}, optim::SGDOptions(0.1).nesterov(true)); },
       Throws::invalid_argument,
       {"SGD", "Nesterov"}},
      {"SGD weight_decay -1",
       [] { optim::SGD({leaf({2})}, optim::SGDOptions(0.1).weight_decay(-1)); },
       Throws::invalid_argument,
       {"SGD", "weight_decay", "-1"}},
      {"Adam beta1 1.0",
       [] {
         optim::Adam({leaf({2})}, optim::AdamOptions().betas({1.0, 0.9}));
       },
       Throws::invalid_argument,
       {"Adam", "beta", "index 0", "1.0"}},
      {"Adam eps -1",
       [] { optim::Adam({leaf({2})}, optim::AdamOptions().eps(-1)); },
       Throws::invalid_argument,
       {"Adam", "epsilon", "-1"}},
      {"AdamW lr -1",
       [] { optim::AdamW({leaf({2})}, optim::AdamWOptions(-1)); },
       Throws::invalid_argument,
       {"AdamW", "learning rate", "-1"}},
      {"RMSprop alpha -0.5",
       [] { optim::RMSprop({leaf({2})}, optim::RMSpropOptions().alpha(-0.5)); },
       Throws::invalid_argument,
       {"RMSprop", "alpha", "-0.5"}},
      {"Adagrad lr_decay -1",
       [] { optim::Adagrad({leaf({2})}, optim::AdagradOptions().lr_decay(-1)); },
       Throws::invalid_argument,
       {"Adagrad", "lr_decay", "-1"}},
      {"a group with Adam options in an SGD",
       [] {
         optim::SGD(
             std::vector<optim::ParamGroup>{optim::ParamGroup({leaf({2})}, optim::AdamOptions())},
             0.1);
       },
       Throws::invalid_argument,
       {"SGD", "Adam"}},
      // ---- state
      {"SGD loading Adam's state",
       [] {
         Tensor w = leaf({2});
         optim::Adam adam({w});
         optim::SGD sgd({w}, 0.1);
         sgd.load_state_dict(adam.state_dict());
       },
       Throws::invalid_argument,
       {"SGD", "Adam"}},
      {"SGD loading state of a [3] parameter into a [2] one",
       [] {
         optim::SGD a({leaf({3})}, 0.1);
         optim::SGD b({leaf({2})}, 0.1);
         b.load_state_dict(a.state_dict());
       },
       Throws::invalid_argument,
       {"SGD", "[3]", "[2]"}},
      {"SGD loading the state of 2 groups into 1",
       [] {
         optim::SGD a(std::vector<optim::ParamGroup>{{{leaf({2})}}, {{leaf({2})}}}, 0.1);
         optim::SGD b({leaf({2})}, 0.1);
         b.load_state_dict(a.state_dict());
       },
       Throws::invalid_argument,
       {"SGD", "2", "1"}},
      // ---- LR schedulers
      {"StepLR with step_size 0",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::StepLR(opt, 0);
       },
       Throws::invalid_argument,
       {"StepLR", "step_size", "0"}},
      {"CosineAnnealingLR with T_max 0",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::CosineAnnealingLR(opt, 0);
       },
       Throws::invalid_argument,
       {"CosineAnnealingLR", "T_max", "0"}},
      {"LinearLR with start_factor 0",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::LinearLR(opt, 0.0);
       },
       Throws::invalid_argument,
       {"LinearLR", "starting multiplicative factor", "0.0"}},
      {"LinearLR with end_factor 1.5",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::LinearLR(opt, 0.5, 1.5);
       },
       Throws::invalid_argument,
       {"LinearLR", "ending multiplicative factor", "1.5"}},
      {"LinearLR with total_iters 0",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::LinearLR(opt, 0.5, 1.0, 0);
       },
       Throws::invalid_argument,
       {"LinearLR", "total_iters", "0"}},
      {"SequentialLR with 2 schedulers and 2 milestones",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         auto a = std::make_shared<optim::StepLR>(opt, 2);
         auto b = std::make_shared<optim::StepLR>(opt, 3);
         optim::SequentialLR(opt, {a, b}, {1, 2});
       },
       Throws::invalid_argument,
       {"SequentialLR", "2", "milestones"}},
      {"SequentialLR with a scheduler of another optimizer",
       [] {
         optim::SGD opt({leaf({2})}, 0.1), other({leaf({2})}, 0.1);
         auto a = std::make_shared<optim::StepLR>(opt, 2);
         auto b = std::make_shared<optim::StepLR>(other, 3);
         optim::SequentialLR(opt, {a, b}, {1});
       },
       Throws::invalid_argument,
       {"SequentialLR", "1", "optimizer"}},
      {"ReduceLROnPlateau with factor 1",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::ReduceLROnPlateau(opt, optim::ReduceLROnPlateauOptions().factor(1.0));
       },
       Throws::invalid_argument,
       {"ReduceLROnPlateau", "factor", "1"}},
      {"ReduceLROnPlateau with patience -1",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::ReduceLROnPlateau(opt, optim::ReduceLROnPlateauOptions().patience(-1));
       },
       Throws::invalid_argument,
       {"ReduceLROnPlateau", "patience", "-1"}},
      {"clip_grad_norm_ with norm_type 0",
       [] { optim::clip_grad_norm_({leaf({2})}, 1.0, 0.0); },
       Throws::invalid_argument,
       {"clip_grad_norm_", "norm_type", "0"}},
      {"clip_grad_norm_ with max_norm -1",
       [] { optim::clip_grad_norm_({leaf({2})}, -1.0); },
       Throws::invalid_argument,
       {"clip_grad_norm_", "max_norm", "-1"}},
      {"clip_grad_norm_ of an inf gradient with error_if_nonfinite",
       [] {
         Tensor w = leaf({2});
         w.set_grad(tensor({1.0, std::numeric_limits<double>::infinity()}));
         optim::clip_grad_norm_({w}, 1.0, 2.0, true);
       },
       Throws::invalid_argument,
       {"clip_grad_norm_", "order 2.0", "non-finite"}},
      {"clip_grad_value_ with clip_value -1",
       [] { optim::clip_grad_value_({leaf({2})}, -1.0); },
       Throws::invalid_argument,
       {"clip_grad_value_", "-1"}},
      {"Adam weight_decay -1",
       [] { optim::Adam({leaf({2})}, optim::AdamOptions().weight_decay(-1)); },
       Throws::invalid_argument,
       {"Adam", "weight_decay", "-1"}},
      {"SGD Nesterov with dampening 0.5",
       [] {
         optim::SGD({leaf({2})},
                    optim::SGDOptions(0.1).momentum(0.9).dampening(0.5).nesterov(true));
       },
       Throws::invalid_argument,
       {"SGD", "Nesterov", "0.5"}},
      {"RMSprop eps nan",
       [] { optim::RMSprop({leaf({2})}, optim::RMSpropOptions().eps(std::nan(""))); },
       Throws::invalid_argument,
       {"RMSprop", "epsilon", "nan"}},
      {"SequentialLR of no schedulers",
       [] {
         optim::SGD opt({leaf({2})}, 0.1);
         optim::SequentialLR(opt, {}, {});
       },
       Throws::invalid_argument,
       {"SequentialLR", "at least one"}},
  };
  run_table(rows);
}

// =============================================================================== viz

TEST_CASE("misuse table: viz") {
  TempDir tmp;
  const std::string a_file = tmp / "a_file";
  write_file(a_file, "x");
  const std::string bad_csv = tmp / "bad.csv";
  write_file(bad_csv, "epoch,train_loss\n1,0.5\n2,zero\n");
  const std::vector<double> x3 = {0, 1, 2}, z9(9, 1.0);
  auto mlp = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{4, 3, 2}); };

  const std::vector<Row> rows = {
      // ---- computation graphs
      {"to_dot of an undefined tensor",
       [] { viz::to_dot({Tensor()}); },
       Throws::invalid_argument,
       {"to_dot", "undefined"}},
      {"to_dot with rankdir \"XY\"",
       [] { viz::to_dot({leaf({2}) * 2.0}, viz::GraphOptions().rankdir("XY")); },
       Throws::invalid_argument,
       {"rankdir", "XY"}},
      {"render to a .bmp file",
       [&tmp] { viz::render("digraph { a -> b }", tmp / "g.bmp"); },
       Throws::invalid_argument,
       {"render", "g.bmp", ".bmp"}},
      {"render DOT with a syntax error",
       [&tmp] { viz::render("digraph { a -> }", tmp / "g.svg"); },
       Throws::invalid_argument,
       {"render", "syntax"}},
      {"render into an unwritable folder",
       [] { viz::render("digraph { a -> b }", kUnwritable + "/g.svg"); },
       Throws::runtime_error,
       {"render", kUnwritable + "/g.svg"}},
      {"render a graph above max_nodes",
       [&tmp] {
         viz::render("digraph { a -> b -> c }", tmp / "g.svg", viz::RenderOptions().max_nodes(2));
       },
       Throws::invalid_argument,
       {"render", "3", "2"}},
      {"render with dpi 0",
       [&tmp] { viz::render("digraph { a -> b }", tmp / "g.png", viz::RenderOptions().dpi(0)); },
       Throws::invalid_argument,
       {"render", "dpi", "0"}},

      // ---- plots
      {"plot_lines into an unwritable folder",
       [x3] {
         viz::plot_lines(kUnwritable + "/p.png", x3, {viz::Series("a", {1, 2, 3})});
       },
       Throws::runtime_error,
       {"plot_lines", kUnwritable + "/p.png"}},
      {"plot_lines under a path whose folder is a file",
       [x3, a_file] {
         viz::plot_lines(a_file + "/p.svg", x3, {viz::Series("a", {1, 2, 3})});
       },
       Throws::runtime_error,
       {"plot_lines", a_file + "/p.svg"}},
      {"plot_lines series of 2 values for 3 x values",
       [&tmp, x3] {
         viz::plot_lines(tmp / "p.png", x3, {viz::Series("loss", {1, 2})});
       },
       Throws::invalid_argument,
       {"plot_lines", "loss", "2", "3"}},
      {"plot_lines with no x values",
       [&tmp] { viz::plot_lines(tmp / "p.png", {}, {viz::Series("a", {})}); },
       Throws::invalid_argument,
       {"plot_lines", "empty"}},
      {"plot_lines to a .jpg file",
       [&tmp, x3] {
         viz::plot_lines(tmp / "p.jpg", x3, {viz::Series("a", {1, 2, 3})});
       },
       Throws::invalid_argument,
       {"plot_lines", ".jpg"}},
      {"plot_lines width 50",
       [&tmp, x3] {
         viz::plot_lines(tmp / "p.png", x3, {viz::Series("a", {1, 2, 3})},
                         viz::PlotOptions().width(50));
       },
       Throws::invalid_argument,
       {"plot_lines", "50 x 600", "[100, 8000]"}},
      {"plot_lines log_x with x = 0",
       [&tmp, x3] {
         viz::plot_lines(tmp / "p.png", x3, {viz::Series("a", {1, 2, 3})},
                         viz::PlotOptions().log_x(true));
       },
       Throws::invalid_argument,
       {"plot_lines", "log_x", "0"}},
      {"plot_contour with a decreasing grid",
       [&tmp, z9] {
         viz::plot_contour(tmp / "c.png", {2, 1, 0}, {0, 1, 2}, z9);
       },
       Throws::invalid_argument,
       {"plot_contour", "increasing"}},
      {"plot_contour with 8 values for a 3 x 3 grid",
       [&tmp, x3] { viz::plot_contour(tmp / "c.png", x3, x3, std::vector<double>(8, 1.0)); },
       Throws::invalid_argument,
       {"plot_contour", "8", "9"}},
      {"plot_contour with levels 1",
       [&tmp, x3, z9] {
         viz::plot_contour(tmp / "c.png", x3, x3, z9, viz::ContourOptions().levels(1));
       },
       Throws::invalid_argument,
       {"plot_contour", "levels", "1"}},
      {"plot_contour into an unwritable folder",
       [x3] {
         std::vector<double> z = {0, 1, 2, 1, 2, 3, 2, 3, 4};
         viz::plot_contour(kUnwritable + "/c.png", x3, x3, z);
       },
       Throws::runtime_error,
       {"plot_contour", kUnwritable + "/c.png"}},
      {"plot_contour of all-nan values",
       [&tmp, x3] {
         viz::plot_contour(tmp / "c.png", x3, x3, std::vector<double>(9, std::nan("")));
       },
       Throws::invalid_argument,
       {"plot_contour", "finite"}},
      {"plot_surface altitude 100",
       [&tmp, x3, z9] {
         viz::plot_surface(tmp / "s.png", x3, x3, z9, viz::SurfaceOptions().altitude(100));
       },
       Throws::invalid_argument,
       {"plot_surface", "altitude", "100"}},
      {"plot_surface into an unwritable folder",
       [x3, z9] { viz::plot_surface(kUnwritable + "/s.png", x3, x3, z9); },
       Throws::runtime_error,
       {"plot_surface", kUnwritable + "/s.png"}},
      {"write_vtk with field name \"train loss\"",
       [&tmp, x3, z9] { viz::write_vtk(tmp / "s.vtk", x3, x3, z9, "train loss"); },
       Throws::invalid_argument,
       {"write_vtk", "train loss"}},
      {"write_vtk into an unwritable folder",
       [x3, z9] { viz::write_vtk(kUnwritable + "/s.vtk", x3, x3, z9); },
       Throws::runtime_error,
       {"write_vtk", kUnwritable + "/s.vtk"}},
      {"plot_images with a 3-value image for 2 x 2",
       [&tmp] {
         viz::plot_images(tmp / "i.png", {{1, 2, 3, 4}, {1, 2, 3}}, 2, 2);
       },
       Throws::invalid_argument,
       {"plot_images", "1", "3", "4"}},
      {"plot_images with a nan value",
       [&tmp] {
         viz::plot_images(tmp / "i.png", {{1, 2, std::nan(""), 4}}, 2, 2);
       },
       Throws::invalid_argument,
       {"plot_images", "0", "finite"}},
      {"plot_images percentile 40",
       [&tmp] {
         viz::plot_images(tmp / "i.png", {{1, 2, 3, 4}}, 2, 2,
                          viz::ImageGridOptions().percentile(40));
       },
       Throws::invalid_argument,
       {"plot_images", "percentile", "40"}},
      {"plot_images into an unwritable folder",
       [] {
         viz::plot_images(kUnwritable + "/i.png", {{1, 2, 3, 4}}, 2, 2);
       },
       Throws::runtime_error,
       {"plot_images", kUnwritable + "/i.png"}},
      {"plot_training_curves of a missing CSV",
       [&tmp] { viz::plot_training_curves(tmp / "t.png", std::string("/nonexistent/m.csv")); },
       Throws::runtime_error,
       {"/nonexistent/m.csv"}},
      {"read_metrics_csv of a row with text",
       [bad_csv] { viz::read_metrics_csv(bad_csv); },
       Throws::invalid_argument,
       {bad_csv, "line 3", "zero"}},
      {"plot_training_curves into an unwritable folder",
       [] {
         viz::plot_training_curves(kUnwritable + "/t.png", std::vector<nn::EpochMetrics>{
                                                               {1, 0.5, 0.5, 0.4, 0.6, 0.1, 1.0},
                                                               {2, 0.4, 0.6, 0.3, 0.7, 0.1, 1.0}});
       },
       Throws::runtime_error,
       {"plot_training_curves", kUnwritable + "/t.png"}},

      // ---- landscape options
      {"Axis \"1:0:0\"", [] { viz::Axis("1:0:0"); }, Throws::invalid_argument, {"1:0:0"}},
      {"Axis \"-1:1\"", [] { viz::Axis("-1:1"); }, Throws::invalid_argument, {"-1:1"}},
      {"Axis \"a:b:c\"", [] { viz::Axis("a:b:c"); }, Throws::invalid_argument, {"a:b:c"}},
      {"Axis from 1 to -1",
       [] { viz::Axis(1.0, -1.0, 5); },
       Throws::invalid_argument,
       {"Axis", "1", "-1"}},
      {"Axis with 0 points",
       [] { viz::Axis(-1.0, 1.0, 0); },
       Throws::invalid_argument,
       {"Axis", "0"}},
      {"Axis::around no values",
       [] { viz::Axis::around({}, 5); },
       Throws::invalid_argument,
       {"around"}},
      {"normalization \"filtre\"",
       [] { viz::parse_normalization("filtre"); },
       Throws::invalid_argument,
       {"filtre", "filter"}},
      {"direction kind \"biases\"",
       [] { viz::parse_direction_kind("biases"); },
       Throws::invalid_argument,
       {"biases", "weights"}},
      {"ignore \"bn\"",
       [] { viz::parse_ignore("bn"); },
       Throws::invalid_argument,
       {"bn", "biasbn"}},
      {"direction_between two different models",
       [] {
         viz::direction_between(nn::MLP({4, 3, 2}), TwoLayer());
       },
       Throws::invalid_argument,
       {"direction_between", "layers.0.weight"}},
      {"normalize_direction against weights of another model",
       [] {
         auto d = viz::snapshot(TwoLayer(), viz::DirectionKind::weights);
         viz::normalize_direction(d, viz::snapshot(TwoLayer(5), viz::DirectionKind::weights),
                                  viz::Normalization::filter, viz::Ignore::biasbn);
       },
       Throws::invalid_argument,
       {"normalize_direction", "fc1.weight", "[3, 4]", "[3, 5]"}},
      {"snapshot of a checkpoint of another model",
       [&tmp] {
         nn::save(TwoLayer(), tmp / "two.safetensors");
         viz::snapshot(tmp / "two.safetensors", nn::MLP({4, 2}), viz::DirectionKind::weights);
       },
       Throws::invalid_argument,
       {"two.safetensors", "layers.0.weight"}},
      {"pca_directions of one snapshot",
       [] {
         auto s = viz::snapshot(TwoLayer(), viz::DirectionKind::weights);
         viz::pca_directions({s}, s);
       },
       Throws::invalid_argument,
       {"pca_directions", "1"}},
      {"evaluate_grid with 3 directions",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(mlp, *base, {d, d, d}, {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
                            viz::EvalOptions().progress(false));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "3", "directions"}},
      {"evaluate_grid with a direction of another model",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(TwoLayer());
         viz::evaluate_grid(mlp, *base, {d}, {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
                            viz::EvalOptions().progress(false));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "fc1.weight", "MLP"}},
      {"evaluate_grid writing into an unwritable folder",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(
             mlp, *base, {d}, {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
             viz::EvalOptions().progress(false).threads(1).csv(kUnwritable + "/g.csv"));
       },
       Throws::runtime_error,
       {kUnwritable + "/g"}},
      {"evaluate_grid with batch_size 0",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(mlp, *base, {d}, {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
                            viz::EvalOptions().progress(false).batch_size(0));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "batch_size", "0"}},
      {"evaluate_grid on inputs of the wrong width (3 features, model takes 4)",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(mlp, *base, {d}, {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 3),
                            viz::EvalOptions().progress(false).threads(1));
       },
       Throws::invalid_argument,
       {"[8, 3]", "4"}},
      {"read_grid_csv of a missing file",
       [] { viz::read_grid_csv("/nonexistent/grid.csv"); },
       Throws::runtime_error,
       {"/nonexistent/grid.csv"}},
      {"read_grid_csv of a malformed file",
       [bad_csv] { viz::read_grid_csv(bad_csv); },
       Throws::invalid_argument,
       {bad_csv, "line 1", "index,x,loss,accuracy"}},
      {"write_path_csv with 3 names for 2 points",
       [&tmp] {
         viz::write_path_csv({{0, 1}, {0, 1}}, {"a", "b", "c"}, tmp / "p.csv");
       },
       Throws::invalid_argument,
       {"write_path_csv", "3", "2"}},
      {"write_path_csv into an unwritable folder",
       [] {
         viz::write_path_csv({{0, 1}, {0, 1}}, {}, kUnwritable + "/p.csv");
       },
       Throws::runtime_error,
       {"write_path_csv", kUnwritable + "/p.csv"}},

      // ---- curvature
      {"HessianOptions top_k 0",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::hessian_eigenvalues(
             [m] {
               return (*m)(ones({1, 4})).sum();
             },
             m->named_parameters(), viz::HessianOptions().top_k(0));
       },
       Throws::invalid_argument,
       {"hessian_eigenvalues", "top_k", "0"}},
      {"TraceOptions max_samples 0",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::hessian_trace(
             [m] {
               return (*m)(ones({1, 4})).sum();
             },
             m->named_parameters(), viz::TraceOptions().max_samples(0));
       },
       Throws::invalid_argument,
       {"hessian_trace", "max_samples", "0"}},
      {"curvature_parameters of biases only",
       [] {
         viz::curvature_parameters({{"b", leaf({3})}});
       },
       Throws::invalid_argument,
       {"curvature_parameters", "b"}},
      {"hvp with a [2] vector for a [3] parameter",
       [] {
         Tensor w = leaf({3});
         viz::hvp([w] { return (w * w).sum(); }, {w}, {ones({2})});
       },
       Throws::invalid_argument,
       {"hvp", "[2]", "[3]"}},
      {"hessian of a loss that is not a scalar",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::hessian_eigenvalues([m] { return (*m)(ones({3, 4})); }, m->named_parameters());
       },
       Throws::invalid_argument,
       {"[3, 2]"}},
      {"curvature_ratio_map CSV into an unwritable folder",
       [] {
         auto m = std::make_shared<TwoLayer>();
         auto d = viz::snapshot(*m, viz::DirectionKind::weights);
         viz::curvature_ratio_map(
             [m] {
               return (*m)(ones({1, 4})).pow(2.0).sum();
             },
             m->named_parameters(), d, d, {0.0}, {0.0}, kUnwritable + "/curv.csv",
             viz::CurvatureMapOptions().progress(false));
       },
       Throws::runtime_error,
       {"curvature_ratio_map", kUnwritable + "/curv.csv"}},
      {"to_dot with max_nodes 0",
       [] { viz::to_dot({leaf({2}) * 2.0}, viz::GraphOptions().max_nodes(0)); },
       Throws::invalid_argument,
       {"to_dot", "max_nodes", "0"}},
      {"render to a path without extension",
       [] { viz::render("digraph { a }", ""); },
       Throws::invalid_argument,
       {"render", "no extension"}},
      {"render with max_pixels 0",
       [&tmp] { viz::render("digraph { a }", tmp / "x.png", viz::RenderOptions().max_pixels(0)); },
       Throws::invalid_argument,
       {"render", "max_pixels", "0"}},
      {"plot_lines colour \"blue\"",
       [&tmp] {
         viz::plot_lines(tmp / "a.png", {0, 1}, {viz::Series("a", {1, 2}).color("blue")});
       },
       Throws::invalid_argument,
       {"plot_lines", "\"a\"", "blue"}},
      {"plot_lines line width 0",
       [&tmp] {
         viz::plot_lines(tmp / "a.png", {0, 1}, {viz::Series("a", {1, 2}).width(0)});
       },
       Throws::invalid_argument,
       {"plot_lines", "\"a\"", "width 0"}},
      {"plot_lines ymin 5 above ymax 1",
       [&tmp] {
         viz::plot_lines(tmp / "a.png", {0, 1}, {viz::Series("a", {1, 2})},
                         viz::PlotOptions().ymin(5).ymax(1));
       },
       Throws::invalid_argument,
       {"plot_lines", "[5, 1]"}},
      {"plot_lines with x = nan",
       [&tmp] {
         viz::plot_lines(tmp / "a.png", {0, std::nan("")}, {viz::Series("a", {1, 2})});
       },
       Throws::invalid_argument,
       {"plot_lines", "x[1]", "nan"}},
      {"plot_contour vmin 5 above vmax 1",
       [&tmp] {
         viz::plot_contour(tmp / "c.png", {0, 1}, {0, 1}, {1, 2, 3, 4},
                           viz::ContourOptions().vmin(5).vmax(1));
       },
       Throws::invalid_argument,
       {"plot_contour", "vmin (5)", "vmax (1)"}},
      {"plot_contour trajectory of 2 x and 1 y",
       [&tmp] {
         viz::plot_contour(tmp / "c.png", {0, 1}, {0, 1}, {1, 2, 3, 4},
                           viz::ContourOptions().trajectory({0, 1}, {0}));
       },
       Throws::invalid_argument,
       {"plot_contour", "trajectory_x has 2", "trajectory_y has 1"}},
      {"plot_contour level_step -1",
       [&tmp] {
         viz::plot_contour(tmp / "c.png", {0, 1}, {0, 1}, {1, 2, 3, 4},
                           viz::ContourOptions().level_step(-1));
       },
       Throws::invalid_argument,
       {"plot_contour", "level_step", "-1"}},
      {"plot_images of 0 x 0 images",
       [&tmp] { viz::plot_images(tmp / "i.png", {{}}, 0, 0); },
       Throws::invalid_argument,
       {"plot_images", "0 x 0"}},
      {"plot_images of no images",
       [&tmp] { viz::plot_images(tmp / "i.png", {}, 2, 2); },
       Throws::invalid_argument,
       {"plot_images", "no images"}},
      {"plot_images with 2 titles for 1 image",
       [&tmp] {
         viz::plot_images(tmp / "i.png", {{1, 2, 3, 4}}, 2, 2,
                          viz::ImageGridOptions().titles({"a", "b"}));
       },
       Throws::invalid_argument,
       {"plot_images", "2 entries", "1 images"}},
      {"plot_training_curves of no epochs",
       [&tmp] { viz::plot_training_curves(tmp / "t.png", std::vector<nn::EpochMetrics>{}); },
       Throws::invalid_argument,
       {"plot_training_curves", "t.png"}},
      {"write_vtk with no grid values",
       [&tmp] { viz::write_vtk(tmp / "v.vtk", {}, {}, {}); },
       Throws::invalid_argument,
       {"write_vtk", "got 0"}},
      {"plot_surface font_scale 0",
       [&tmp] {
         viz::plot_surface(tmp / "s.png", {0, 1}, {0, 1}, {1, 2, 3, 4},
                           viz::SurfaceOptions().font_scale(0));
       },
       Throws::invalid_argument,
       {"plot_surface", "font_scale", "0"}},
      {"Axis with a nan bound",
       [] { viz::Axis(std::nan(""), 1, 3); },
       Throws::invalid_argument,
       {"Axis", "nan"}},
      {"Axis::around a nan value",
       [] {
         viz::Axis::around({1, std::nan("")}, 3);
       },
       Throws::invalid_argument,
       {"Axis::around", "nan"}},
      {"normalize_direction of 3 entries against 4",
       [] {
         auto d = viz::snapshot(TwoLayer(), viz::DirectionKind::weights);
         d.pop_back();
         viz::normalize_direction(d, viz::snapshot(TwoLayer(), viz::DirectionKind::weights),
                                  viz::Normalization::filter, viz::Ignore::biasbn);
       },
       Throws::invalid_argument,
       {"normalize_direction", "3 entries", "4"}},
      {"evaluate_grid with a factory returning null",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid([] { return std::shared_ptr<nn::Module>(); }, *base, {d},
                            {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
                            viz::EvalOptions().progress(false).threads(1));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "factory", "null"}},
      {"evaluate_grid with a factory of another architecture",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid([] { return std::make_shared<TwoLayer>(); }, *base, {d},
                            {viz::Axis("-1:1:3")}, nn::make_blobs(8, 2, 4),
                            viz::EvalOptions().progress(false).threads(1));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "factory", "fc1.weight", "layers.0.weight"}},
      {"evaluate_grid on an empty data set",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(mlp, *base, {d}, {viz::Axis("-1:1:3")},
                            nn::TensorDataset(zeros({0, 4}), zeros({0}, Dtype::int64)),
                            viz::EvalOptions().progress(false).threads(1));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "empty"}},
      {"evaluate_grid with 2 directions and 3 axes",
       [mlp] {
         auto base = mlp();
         auto d = viz::random_direction(*base);
         viz::evaluate_grid(mlp, *base, {d, d}, {viz::Axis("-1:1:3"), {"-1:1:3"}, {"-1:1:3"}},
                            nn::make_blobs(8, 2, 4), viz::EvalOptions().progress(false));
       },
       Throws::invalid_argument,
       {"evaluate_grid", "3"}},
      {"interpolate between two architectures",
       [mlp] {
         viz::interpolate(mlp, *mlp(), TwoLayer(), viz::Axis("0:1:3"), nn::make_blobs(8, 2, 4),
                          viz::EvalOptions().progress(false));
       },
       Throws::invalid_argument,
       {"layers.0.weight", "fc1.weight"}},
      {"project_path on directions of another model",
       [] {
         auto s = viz::snapshot(TwoLayer(), viz::DirectionKind::weights);
         auto d = viz::random_direction(nn::MLP({4, 2}));
         viz::project_path({s}, s, d, d);
       },
       Throws::invalid_argument,
       {"project_path", "2 entries", "4"}},
      {"cosine_similarity of directions of two models",
       [] {
         viz::cosine_similarity(viz::random_direction(TwoLayer()),
                                viz::random_direction(nn::MLP({4, 2})));
       },
       Throws::invalid_argument,
       {"cosine_similarity", "4 entries", "2"}},
      {"HessianOptions max_iter 0",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::hessian_eigenvalues(
             [m] {
               return (*m)(ones({1, 4})).sum();
             },
             m->named_parameters(), viz::HessianOptions().max_iter(0));
       },
       Throws::invalid_argument,
       {"hessian_eigenvalues", "max_iter 0", "top_k 1"}},
      {"HessianOptions tol nan",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::hessian_eigenvalues(
             [m] {
               return (*m)(ones({1, 4})).sum();
             },
             m->named_parameters(), viz::HessianOptions().tol(std::nan("")));
       },
       Throws::invalid_argument,
       {"hessian_eigenvalues", "tol", "nan"}},
      {"HessianOperator of a tensor that does not require grad",
       [] { viz::HessianOperator op([] { return scalar_tensor(1.0); }, {zeros({2})}); },
       Throws::invalid_argument,
       {"HessianOperator", "[2]", "requires grad"}},
      {"HessianOperator with 1 term and 2 weights",
       [] {
         Tensor w = leaf({2});
         viz::HessianOperator op(std::vector<viz::LossFn>{[w] { return (w * w).sum(); }},
                                 {1.0, 2.0}, {w});
       },
       Throws::invalid_argument,
       {"HessianOperator", "1 loss terms", "2 weights"}},
      {"curvature_ratio_map with directions missing a parameter",
       [] {
         auto m = std::make_shared<TwoLayer>();
         viz::curvature_ratio_map(
             [m] {
               return (*m)(ones({1, 4})).pow(2.0).sum();
             },
             m->named_parameters(), {}, {}, {0.0}, {0.0}, "",
             viz::CurvatureMapOptions().progress(false));
       },
       Throws::invalid_argument,
       {"curvature_ratio_map", "fc1.weight"}},
  };
  run_table(rows);
}

// =============================================================================== cli

#ifndef XGRAD_CLI
#error "XGRAD_CLI (the path of the built xgrad) must be defined: see tests/CMakeLists.txt"
#endif
namespace {

struct CliRun {
  int status = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs the built `xgrad` with `args` (a shell word list), capturing its output and status.
CliRun run_cli(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string("'") + XGRAD_CLI + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST_CASE("misuse table: the xgrad command line") {
  TempDir tmp;
  // A checkpoint of the MLP (named in its metadata) for the rows that need one.
  const std::string mlp_ckpt = tmp / "mlp.safetensors";
  nn::save(nn::MLP({784, 256, 128, 10}), mlp_ckpt, {{"model", "mlp"}});
  const std::string never = tmp / "never";

  struct CliRow {
    const char* what;
    std::string args;
    std::vector<std::string> contains;
  };
  const std::vector<CliRow> rows = {
      {"an unknown subcommand", "frobnicate", {"frobnicate"}},
      {"an unknown model", "train --model resnet --out " + never, {"--model", "resnet"}},
      {"an epoch count that is not a number",
       "train --epochs zero --out " + never,
       {"--epochs", "zero"}},
      {"a negative epoch count", "train --epochs -1 --out " + never, {"--epochs", "-1"}},
      {"a batch size of 0", "train --batch-size 0 --out " + never, {"--batch-size", "0"}},
      {"an unknown optimizer", "train --optimizer lbfgs --out " + never, {"--optimizer", "lbfgs"}},
      {"a negative learning rate", "train --lr -0.1 --out " + never, {"--lr", "-0.1"}},
      {"an unknown scheduler",
       "train --scheduler plateau --out " + never,
       {"--scheduler", "plateau"}},
      {"an unknown option", "train --epoch 3 --out " + never, {"--epoch"}},
      {"a data folder without the files",
       "train --data /nonexistent/fmnist --epochs 1 --limit 10 --out " + never,
       {"/nonexistent/fmnist", "train-images-idx3-ubyte"}},
      {"an unwritable output folder",
       "train --epochs 1 --limit 100 --out " + kUnwritable,
       {kUnwritable}},
      {"info of a missing checkpoint",
       "info /nonexistent/net.safetensors",
       {"/nonexistent/net.safetensors"}},
      {"info of a file that is not a checkpoint", "info " + tmp / "mlp.csv", {tmp / "mlp.csv"}},
      {"eval of an MLP checkpoint as a CNN",
       "eval " + mlp_ckpt + " --model cnn --limit 10",
       {"mlp.safetensors", "cnn", "mlp"}},
      {"eval without a checkpoint", "eval", {"checkpoint"}},
      {"graph to a .bmp file", "graph --model mlp --out " + tmp / "g.bmp", {"g.bmp", ".bmp"}},
      {"graph into an unwritable folder",
       "graph --model mlp --out " + kUnwritable + "/g.svg",
       {kUnwritable}},
      {"graph with batch size 0",
       "graph --batch-size 0 --out " + tmp / "g.svg",
       {"--batch-size", "0"}},
      {"landscape grid 1:0:0",
       "landscape 2d --run " + tmp.path.string() + " --grid 1:0:0",
       {"1:0:0"}},
      {"landscape of a folder without checkpoints",
       "landscape 2d --run /nonexistent/run --limit 10",
       {"/nonexistent/run"}},
      {"landscape hessian top-k 0",
       "landscape hessian --run " + tmp.path.string() + " --top-k 0",
       {"--top-k", "0"}},
      {"report of a missing folder", "report /nonexistent/run", {"/nonexistent/run"}},
      {"a negative --limit", "train --limit -5 --out " + never, {"--limit", "-5"}},
      {"a negative --threads", "train --threads -1 --out " + never, {"--threads", "-1"}},
      {"eval --limit -1", "eval " + mlp_ckpt + " --limit -1", {"--limit", "-1"}},
      {"landscape --threads -2",
       "landscape 2d --run " + tmp.path.string() + " --threads -2",
       {"--threads", "-2"}},
      {"eval of a file that is not a checkpoint",
       "eval " + tmp / "mlp.csv",
       {tmp / "mlp.csv", "header"}},
  };
  write_file(tmp / "mlp.csv", "epoch,loss\n1,0.5\n");
  for (const CliRow& r : rows) {
    const CliRun got = run_cli(r.args);
    INFO("row: ", std::string(r.what), " (xgrad ", r.args, ")");
    INFO("output: ", got.output);
    CHECK(got.status == 2);
    // One line: "xgrad: error: ..." and nothing else.
    CHECK(got.output.rfind("xgrad: error: ", 0) == 0);
    CHECK(got.output.find('\n') == got.output.size() - 1);
    for (const std::string& s : r.contains)
      CHECK_MESSAGE(got.output.find(s) != std::string::npos, "message lacks \"", s, "\"");
  }
  CHECK_FALSE(fs::exists(never));
}
