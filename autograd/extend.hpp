#pragma once
// The public way to write an op, a kernel or an optimizer outside autograd/ (nn, optim, viz and
// user code): error helpers, dtype dispatch, version bumps, shape helpers, and custom autograd
// functions with their own backward (xg::Function, as torch::autograd::Function).
//
//   struct MySquare : xg::Function<MySquare> {
//     static Tensor forward(AutogradContext& ctx, const Tensor& x) {
//       ctx.save_for_backward({x});
//       return x * x;
//     }
//     static TensorList backward(AutogradContext& ctx, const TensorList& grad_out) {
//       Tensor x = ctx.get_saved_variables()[0];
//       return {grad_out[0] * 2.0 * x};
//     }
//   };
//   Tensor y = MySquare::apply(x);  // y.grad_fn()->name() == "MySquareBackward"
//
// autograd/detail/ is private and not installed; this header includes no xtensor.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "autograd/tensor.hpp"

namespace xg {

// ---- errors ----
/// Streams a shape as "[2, 3]" (for error messages).
inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << shape_str(s); }
/// Throws std::invalid_argument built from streamable parts: fail("matmul: shapes ", a, " and ",
/// b).
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw std::invalid_argument(os.str());
}
/// fail(parts...) unless `cond` holds (the parts are streamed only on failure).
template <typename... Args>
void check(bool cond, const Args&... parts) {
  if (!cond) fail(parts...);
}
/// XG_CHECK(cond, parts...): fail(parts...) unless cond; the parts are evaluated only on failure.
#define XG_CHECK(cond, ...)               \
  do {                                    \
    if (!(cond)) ::xg::fail(__VA_ARGS__); \
  } while (0)
/// Throws "op: expected a defined tensor" for an undefined argument.
void check_defined(const char* op, const Tensor& t);
/// Throws "op: dtype mismatch (float32 and float64)".
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
/// check_defined, then throws "op: expected a floating point tensor (float32 or float64), got
/// int64" unless t is float32 or float64.
void check_floating(const char* op, const Tensor& t);
/// The same check for a dtype argument (creators such as randn).
void check_floating(const char* op, Dtype d);
/// v truncated toward zero as an int64; throws naming op when v is nan, inf or out of range.
int64_t checked_int64(const char* op, double v);

// ---- shapes ----
/// Normalizes a possibly negative dim for a tensor of rank `ndim`; throws naming op and shape.
std::size_t wrap_dim(const char* op, int64_t dim, std::size_t ndim, const Shape& shape);
/// NumPy broadcast of two shapes; throws "op: shapes [..] and [..] cannot be broadcast".
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
/// Element count of a shape (1 for []), overflow-checked as checked_numel (with the generic
/// name "tensor").
std::size_t shape_numel(const Shape& s);
/// Largest element count a tensor may have: its bytes (up to 8 per element) fit in ptrdiff_t.
constexpr std::size_t kMaxNumel = static_cast<std::size_t>(PTRDIFF_MAX) / 8;
/// Element count of `s`; throws "op: shape [..] has too many elements" past kMaxNumel.
std::size_t checked_numel(const char* op, const Shape& s);
/// a * b for sizes; throws "op: size overflow (a * b)" when it does not fit in size_t.
std::size_t checked_mul(const char* op, std::size_t a, std::size_t b);
/// a + b for sizes; throws "op: size overflow (a + b)" when it does not fit in size_t.
std::size_t checked_add(const char* op, std::size_t a, std::size_t b);

// ---- dtype dispatch ----
/// Throws for a dtype that reached a floating-point-only kernel (a missing check_floating).
[[noreturn]] void fail_not_floating(Dtype d);
/// Calls f(double{}) for float64 tensors, f(float{}) for float32; write a kernel once for both:
/// dispatch(t.dtype(), [&](auto tag) { using T = decltype(tag); T* p = t.data_ptr<T>(); ... }).
/// int64 throws (ops call check_floating first, so their message names the op).
template <typename F>
decltype(auto) dispatch(Dtype d, F&& f) {
  if (d == Dtype::float64) return f(double{});
  if (d != Dtype::float32) fail_not_floating(d);
  return f(float{});
}
/// f(float{}), f(double{}) or f(int64_t{}): kernels that also run on int64 (copies, indexing,
/// comparisons, sum).
template <typename F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  if (d == Dtype::int64) return f(int64_t{});
  return dispatch(d, std::forward<F>(f));
}
/// Calls f(std::true_type{}) or f(std::false_type{}): a runtime flag made a compile-time one,
/// so that each variant of a hot loop is its own (vectorized) loop.
template <typename F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// ---- in-place writes ----
/// Marks t's data as modified in place (bumps its version counter), after writing through
/// data_ptr(): backward then refuses tensors saved before the write.
void bump_version(const Tensor& t);
/// Same as bump_version (libtorch's name).
inline void increment_version(const Tensor& t) { bump_version(t); }

// ---- custom functions ----
/// A non-tensor value a custom function keeps for backward (ctx.saved_data["alpha"] = 0.5).
class SavedValue {
 public:
  SavedValue() = default;
  SavedValue(double v) : v_(v) {}
  /// Any integer type (int, int64_t, std::size_t, ...), stored as int64_t.
  template <typename I,
            std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  SavedValue(I v) : v_(static_cast<int64_t>(v)) {}
  SavedValue(bool v) : v_(v) {}
  /// The value as a double (ints convert); fails for bools and empty values.
  double to_double() const;
  /// The value as an integer; fails unless an int was stored.
  int64_t to_int() const;
  /// The value as a bool; fails unless a bool was stored.
  bool to_bool() const;
  /// libtorch's IValue spellings.
  double toDouble() const { return to_double(); }
  int64_t toInt() const { return to_int(); }
  bool toBool() const { return to_bool(); }

 private:
  std::variant<std::monostate, double, int64_t, bool> v_;
};

/// What a custom function's forward hands to its backward (torch::autograd::AutogradContext).
class AutogradContext {
 public:
  AutogradContext();
  ~AutogradContext();
  AutogradContext(const AutogradContext&) = delete;
  AutogradContext& operator=(const AutogradContext&) = delete;

  /// In forward: keeps inputs or the output for backward. Backward fails if one of them is
  /// modified in place after forward.
  void save_for_backward(TensorList tensors);
  /// In backward: the tensors given to save_for_backward, in order (fails after an in-place
  /// change to one, or after the graph was freed by a backward without retain_graph).
  TensorList get_saved_variables() const;
  /// In forward: declares outputs that are not differentiable (indices, masks); they are
  /// returned without a grad_fn and backward is never called for them.
  void mark_non_differentiable(const TensorList& outputs);
  /// True if forward argument i needs a gradient (in backward: in this backward pass).
  bool needs_input_grad(std::size_t i) const;
  /// Non-tensor values for backward, by name.
  std::map<std::string, SavedValue> saved_data;

  /// Internal state (defined in autograd/extend.cpp).
  struct State;
  State& state() const { return *state_; }

 private:
  std::unique_ptr<State> state_;
};

namespace function_detail {
/// How Function<T>::apply reaches T::backward (a plain function pointer per T).
using BackwardFn = TensorList (*)(AutogradContext&, const TensorList&);
/// Before forward: records, per forward argument, whether it needs a gradient.
void begin(AutogradContext& ctx, const TensorList& inputs);
/// After forward: makes `output` the result of a node named `name` that calls `backward`.
Tensor finish(const char* name, std::shared_ptr<AutogradContext> ctx, const TensorList& inputs,
              Tensor output, BackwardFn backward);
/// "MySquare" from typeid(ns::MySquare).name() (demangled; namespaces and enclosing functions
/// removed).
std::string type_name(const char* mangled);
/// The node's op string: "MySquare" -> "MySquareBackward"; "my_square" stays (the node's name()
/// makes it "MySquareBackward").
std::string op_name(const std::string& name);

template <typename T, typename = void>
struct has_name : std::false_type {};
template <typename T>
struct has_name<T, std::void_t<decltype(T::name)>> : std::true_type {};

/// Calls T::forward / T::backward with the context as a reference, or else as a pointer.
template <typename T, typename... Args>
auto call_forward(int, AutogradContext& ctx, Args&&... args)
    -> decltype(T::forward(ctx, std::forward<Args>(args)...)) {
  return T::forward(ctx, std::forward<Args>(args)...);
}
template <typename T, typename... Args>
auto call_forward(long, AutogradContext& ctx, Args&&... args)
    -> decltype(T::forward(&ctx, std::forward<Args>(args)...)) {
  return T::forward(&ctx, std::forward<Args>(args)...);
}
template <typename T>
auto call_backward(int, AutogradContext& ctx, const TensorList& g)
    -> decltype(T::backward(ctx, g)) {
  return T::backward(ctx, g);
}
template <typename T>
auto call_backward(long, AutogradContext& ctx, const TensorList& g)
    -> decltype(T::backward(&ctx, g)) {
  return T::backward(&ctx, g);
}

/// A forward argument as a node input: the tensor itself, or undefined for other arguments.
template <typename A>
Tensor as_input(const A& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, Tensor>)
    return a;
  else
    return Tensor();
}
}  // namespace function_detail

/// Base of a custom autograd function T (CRTP, as torch::autograd::Function<T>). T defines
///   static Tensor forward(AutogradContext& ctx, args...);            // runs under NoGradGuard
///   static TensorList backward(AutogradContext& ctx, const TensorList& grad_outputs);
/// backward gets one gradient (forward has one output) and returns one gradient per forward
/// argument (undefined for non-tensor arguments and inputs that need none), each of its input's
/// shape and dtype. Written with Tensor ops, backward is itself differentiable (create_graph).
/// The node is named T::name + "Backward" if T has `static constexpr const char* name`, else
/// after T's type name. AutogradContext* works in place of AutogradContext& (libtorch style).
template <typename T>
struct Function {
  /// Runs T::forward on args and records T::backward for the result.
  template <typename... Args>
  static Tensor apply(Args&&... args) {
    auto ctx = std::make_shared<AutogradContext>();
    const TensorList inputs{function_detail::as_input(args)...};
    function_detail::begin(*ctx, inputs);
    Tensor out;
    {
      NoGradGuard no_grad;
      out = function_detail::call_forward<T>(0, *ctx, std::forward<Args>(args)...);
    }
    return function_detail::finish(node_name(), std::move(ctx), inputs, std::move(out),
                                   &backward_thunk);
  }

 private:
  static TensorList backward_thunk(AutogradContext& ctx, const TensorList& grads) {
    return function_detail::call_backward<T>(0, ctx, grads);
  }
  static const char* node_name() {
    static const std::string name = [] {
      if constexpr (function_detail::has_name<T>::value)
        return function_detail::op_name(T::name);
      else
        return function_detail::op_name(function_detail::type_name(typeid(T).name()));
    }();
    return name.c_str();
  }
};

}  // namespace xg
