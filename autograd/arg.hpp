#pragma once
// XG_ARG: the one macro that writes chained setters for options structs (libtorch's TORCH_ARG),
// shared by optim's and nn's options.

/// Declares an option `name` of type `type`: a chained setter `name(v)` returning the options
/// struct, a getter `name()`, and the member `name_` (a default may follow: `XG_ARG(T, x) = 1;`).
#define XG_ARG(type, name)                     \
 public:                                       \
  auto& name(const type& new_##name) {         \
    name##_ = new_##name;                      \
    return *this;                              \
  }                                            \
  const type& name() const { return name##_; } \
                                               \
 private:                                      \
  type name##_
