#pragma once
// nn::Sequential: modules applied one after another, named "0", "1", ... (as PyTorch's).
//
//   auto net = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
//       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10));
//   Tensor scores = (*net)(x);           // [N, 10]
//   net->at<nn::Linear>(1)->weight;      // [256, 784]
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "autograd/extend.hpp"
#include "nn/module.hpp"

namespace xg::nn {

class Sequential : public Module {
 public:
  /// An empty Sequential (forward returns its input).
  Sequential();
  /// The modules in order, named "0", "1", ...
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  /// The modules in order, named "0", "1", ...
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);
  /// The modules in order, named "0", "1", ... (so std::make_shared<Sequential>(a, b, c) works).
  template <typename M, typename... Ms>
  explicit Sequential(std::shared_ptr<M> first, std::shared_ptr<Ms>... rest)
      : Sequential(std::vector<std::shared_ptr<Module>>{std::move(first), std::move(rest)...}) {}

  /// Appends a module named after its position ("3").
  void push_back(std::shared_ptr<Module> module);
  /// Appends a module under a given name (non-empty, no '.', unique).
  void push_back(const std::string& name, std::shared_ptr<Module> module);

  /// The module at `index`; fails naming the index and the size.
  std::shared_ptr<Module> operator[](std::size_t index) const;
  /// The module at `index` as an M (nullptr-free: fails if it is not an M).
  template <typename M>
  std::shared_ptr<M> at(std::size_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    if (!m)
      fail("Sequential::at: module ", index, " is a ", (*this)[index]->type_name(),
           ", not the type asked for");
    return m;
  }
  /// Number of modules.
  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// The modules in order.
  const std::vector<std::shared_ptr<Module>>& modules() const { return modules_; }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

  /// Feeds the input through every module in order (each under its own scope).
  Tensor forward(const Tensor& input) override;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace xg::nn
