// FashionMNIST: locate the four IDX files, read and check them, convert to tensors.
#include "nn/fashion_mnist.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "nn/idx.hpp"

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

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
std::string join(const std::string& a, const std::string& b) {
  return a.empty() || a.back() == '/' ? a + b : a + "/" + b;
}

/// root/name.gz, else root/name; throws naming the package and the .gz path when neither exists.
std::string find_file(const std::string& root, const std::string& name) {
  const std::string gz = join(root, name + ".gz"), plain = join(root, name);
  if (is_file(gz)) return gz;
  if (is_file(plain)) return plain;
  io_fail(
      "FashionMNIST: ", gz, " not found; install Debian's dataset-fashion-mnist or set XGRAD_DATA",
      " (or pass a root) to the folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz");
}

}  // namespace

const std::array<const char*, 10> FashionMNIST::kClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string FashionMNIST::default_root() {
  const char* env = std::getenv("XGRAD_DATA");
  return env && *env ? std::string(env) : std::string(kDefaultRoot);
}

FashionMNIST::FashionMNIST(bool train, const FashionMNISTOptions& options)
    : FashionMNIST(default_root(), train, options) {}

FashionMNIST::FashionMNIST(const std::string& root, bool train, const FashionMNISTOptions& options)
    : train_(train), root_(root) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_name = prefix + "-images-idx3-ubyte";
  const std::string labels_name = prefix + "-labels-idx1-ubyte";
  // A data root with a fashion-mnist/ subfolder works too.
  const std::string sub = join(root, "fashion-mnist");
  if (!is_file(join(root, images_name + ".gz")) && !is_file(join(root, images_name)) && is_dir(sub))
    root_ = sub;
  const std::string images_path = find_file(root_, images_name);
  const std::string labels_path = find_file(root_, labels_name);

  IdxData images = read_idx(images_path);
  if (images.dims.size() != 3 || images.dims[1] != 28 || images.dims[2] != 28)
    fail("FashionMNIST: ", images_path, ": expected images [N, 28, 28], the file holds ",
         images.dims);
  IdxData labels = read_idx(labels_path);
  if (labels.dims.size() != 1)
    fail("FashionMNIST: ", labels_path, ": expected labels [N], the file holds ", labels.dims);
  if (labels.dims[0] != images.dims[0])
    fail("FashionMNIST: ", images_path, " holds ", images.dims[0], " images but ", labels_path,
         " holds ", labels.dims[0], " labels");

  std::size_t n = images.dims[0];
  if (options.limit() > 0 && options.limit() < n) n = options.limit();
  const std::size_t pixels = 28 * 28;
  Tensor x = empty({n, 1, 28, 28}, Dtype::float32);
  Tensor y = empty({n}, Dtype::int64);
  float* px = x.data_ptr<float>();
  int64_t* py = y.data_ptr<int64_t>();
  const bool norm = options.normalize();
  const float scale = norm ? static_cast<float>(1.0 / (255.0 * kStd)) : 1.0f / 255.0f;
  const float shift = norm ? static_cast<float>(kMean / kStd) : 0.0f;
  for (std::size_t k = 0; k < n * pixels; ++k)
    px[k] = static_cast<float>(images.bytes[k]) * scale - shift;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char label = labels.bytes[i];
    if (label >= kClasses.size())
      fail("FashionMNIST: ", labels_path, ": label ", static_cast<int>(label), " at index ", i,
           " is not a class (0..9)");
    py[i] = label;
  }
  reset(x, y, "FashionMNIST");
}

}  // namespace xg::nn
