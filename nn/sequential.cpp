// nn::Sequential: an ordered chain of modules.
#include "nn/sequential.hpp"

namespace xg::nn {

Sequential::Sequential() : Module("Sequential") {}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules)
    : Sequential(std::vector<std::shared_ptr<Module>>(modules)) {}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  push_back(std::to_string(modules_.size()), std::move(module));
}

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> module) {
  if (!module) fail("Sequential::push_back: module ", modules_.size(), " (\"", name, "\") is null");
  register_module(name, module);
  modules_.push_back(std::move(module));
}

std::shared_ptr<Module> Sequential::operator[](std::size_t index) const {
  if (index >= modules_.size())
    fail("Sequential: index ", index, " is out of range for ", modules_.size(), " modules");
  return modules_[index];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& m : modules_) x = (*m)(x);
  return x;
}

}  // namespace xg::nn
