// Models by name, data, output folders and checkpoints for the `xgrad` subcommands.
#include "cli/common.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace xgcli {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"softmax", "mlp", "cnn"};
  return names;
}

std::shared_ptr<nn::Module> make_model(const std::string& name) {
  if (name == "softmax") return std::make_shared<nn::SoftmaxRegression>(784, 10);
  if (name == "mlp") return std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
  if (name == "cnn") return std::make_shared<nn::CNN>(nn::CNNOptions().channels({32, 64}));
  throw std::invalid_argument("unknown model '" + name + "' (expected softmax, mlp or cnn)");
}

std::string model_title(const std::string& name) {
  if (name == "softmax") return "softmax regression 784-10";
  if (name == "mlp") return "MLP 784-256-128-10";
  if (name == "cnn") return "CNN conv32-conv64";
  return name;
}

nn::FashionMNIST fashion_mnist(const std::string& root, bool train, std::size_t limit) {
  const auto options = nn::FashionMNISTOptions().normalize(true).limit(limit);
  return root.empty() ? nn::FashionMNIST(train, options) : nn::FashionMNIST(root, train, options);
}

void set_threads(std::size_t threads) {
  if (threads == 0) return;
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(static_cast<int>(threads));
}

void prepare_folder(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw std::runtime_error("cannot write to " + dir + ": it is a file, not a folder");
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the folder " + dir + ": " + ec.message());
  const std::string probe = dir + "/.xgrad_write_test_" + std::to_string(::getpid());
  std::ofstream f(probe);
  f << "x";
  f.close();
  const bool ok = f.good() && fs::exists(probe);
  fs::remove(probe, ec);
  if (!ok) throw std::runtime_error("cannot write to the folder " + dir + " (permission denied?)");
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f.good()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + path);
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot write " + path + ": " + ec.message());
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string epoch_file(const std::string& dir, int64_t epoch) {
  std::ostringstream name;
  name << dir << "/epoch_" << std::setw(2) << std::setfill('0') << epoch << ".safetensors";
  return name.str();
}

std::vector<std::string> run_checkpoints(const std::string& dir) {
  std::vector<std::string> files;
  for (int64_t e = 0; fs::exists(epoch_file(dir, e)); ++e) files.push_back(epoch_file(dir, e));
  return files;
}

std::string checkpoint_model(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error("checkpoint " + path + " not found");
  const nn::Metadata meta = nn::read_metadata(path);
  auto it = meta.find("model");
  if (it == meta.end())
    throw std::runtime_error(path + " does not say which model it holds (no 'model' in its " +
                             "metadata); pass --model softmax|mlp|cnn");
  return it->second;
}

std::shared_ptr<nn::Module> load_model(const std::string& path, const std::string& model) {
  if (!fs::exists(path)) throw std::runtime_error("checkpoint " + path + " not found");
  std::string name = model;
  const nn::Metadata meta = nn::read_metadata(path);
  auto it = meta.find("model");
  if (it != meta.end()) {
    if (!name.empty() && name != it->second)
      throw std::runtime_error(path + " holds a " + it->second + " model, not " + name);
    name = it->second;
  }
  if (name.empty())
    throw std::runtime_error(path + " does not say which model it holds; pass --model");
  auto net = make_model(name);
  nn::load(*net, path);  // strict: every tensor, right shapes; the message names the file
  return net;
}

std::vector<std::string> class_names() {
  return {nn::FashionMNIST::kClasses.begin(), nn::FashionMNIST::kClasses.end()};
}

void write_confusion_csv(const nn::ConfusionMatrix& cm, const std::string& path) {
  const std::vector<std::string> names = class_names();
  std::ostringstream os;
  os << "true\\predicted";
  for (const auto& n : names) os << "," << n;
  os << "\n";
  for (std::size_t i = 0; i < cm.num_classes(); ++i) {
    os << names[i];
    for (std::size_t j = 0; j < cm.num_classes(); ++j) os << "," << cm.count(i, j);
    os << "\n";
  }
  write_text(path, os.str());
}

std::string fmt(double v, int digits) {
  std::ostringstream os;
  os << std::setprecision(digits) << v;
  return os.str();
}

}  // namespace xgcli
