#pragma once
// Helpers for nn options structs (chained setters come from XG_ARG, autograd/arg.hpp):
// ExpandingArray (a size given as one number or one per spatial dim, as libtorch's).
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "autograd/arg.hpp"

namespace xg::nn {

/// D sizes given as one number for all dims (`3` -> (3, 3)) or one per dim (`{3, 5}`).
template <std::size_t D>
class ExpandingArray {
 public:
  /// The same value in every dim.
  ExpandingArray(int64_t v) { values_.fill(v); }  // NOLINT: implicit, as libtorch's
  /// One value per dim; a list of another length is kept as given and rejected by the module
  /// that validates it (with the module's name).
  ExpandingArray(std::initializer_list<int64_t> list)
      : ExpandingArray(std::vector<int64_t>(list)) {}
  /// One value per dim (see the initializer_list form).
  ExpandingArray(const std::vector<int64_t>& list) {  // NOLINT: implicit
    values_.fill(0);
    given_ = list.size();
    for (std::size_t i = 0; i < D && i < list.size(); ++i) values_[i] = list[i];
  }
  /// Value of dim i.
  int64_t operator[](std::size_t i) const { return values_[i]; }
  /// The values as a vector (what the ops take).
  std::vector<int64_t> vec() const { return {values_.begin(), values_.end()}; }
  /// True when the values were given as D numbers (or one number).
  bool well_formed() const { return given_ == D; }
  /// Number of values given (D for the scalar form).
  std::size_t given() const { return given_; }
  /// "(3, 3)", as Python prints a tuple.
  std::string tuple_str() const {
    std::string s = "(";
    for (std::size_t i = 0; i < D; ++i) s += (i ? ", " : "") + std::to_string(values_[i]);
    return s + ")";
  }
  /// "3" when all dims are equal, else "(3, 5)".
  std::string short_str() const {
    for (std::size_t i = 1; i < D; ++i)
      if (values_[i] != values_[0]) return tuple_str();
    return std::to_string(values_[0]);
  }
  bool operator==(const ExpandingArray& o) const { return values_ == o.values_; }
  bool operator!=(const ExpandingArray& o) const { return !(*this == o); }

 private:
  std::array<int64_t, D> values_{};
  std::size_t given_ = D;
};

namespace detail {
/// A double as Python's repr prints it ("0.1", "1e-05", "1.0"), for extra_repr and errors.
std::string py_float(double v);
/// "true" or "false".
inline const char* py_bool(bool b) { return b ? "true" : "false"; }
}  // namespace detail

}  // namespace xg::nn
