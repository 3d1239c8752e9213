// Tensor handle, storage, metadata, printing, and the method forms of ops.
#include "autograd/tensor.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <ostream>

#include "autograd/detail/impl.hpp"
#include "autograd/engine.hpp"
#include "autograd/ops.hpp"

namespace xg {

// ---- dtype and shape helpers ----
const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::float32:
      return "float32";
    case Dtype::float64:
      return "float64";
    case Dtype::int64:
      return "int64";
  }
  return "unknown";
}
std::size_t element_size(Dtype d) { return d == Dtype::float32 ? 4 : 8; }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::size_t checked_numel(const char* op, const Shape& s) {
  std::size_t n = 1;
  bool zero = false, over = false;
  for (std::size_t d : s) {
    zero = zero || d == 0;
    over = over || __builtin_mul_overflow(n, d, &n) || n > kMaxNumel;
  }
  if (over && !zero) fail(op, ": shape ", s, " has too many elements");
  return zero ? 0 : n;
}
std::size_t shape_numel(const Shape& s) { return checked_numel("tensor", s); }

std::size_t checked_mul(const char* op, std::size_t a, std::size_t b) {
  std::size_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(op, ": size overflow (", a, " * ", b, ")");
  return r;
}
std::size_t checked_add(const char* op, std::size_t a, std::size_t b) {
  std::size_t r;
  if (__builtin_add_overflow(a, b, &r)) fail(op, ": size overflow (", a, " + ", b, ")");
  return r;
}

void check_defined(const char* op, const Tensor& t) {
  if (!t.defined()) fail(op, ": expected a defined tensor, got an undefined one");
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    fail(op, ": dtype mismatch (", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()),
         "); convert one with .to()");
}

void check_floating(const char* op, Dtype d) {
  if (d != Dtype::float32 && d != Dtype::float64)
    fail(op, ": expected a floating point tensor (float32 or float64), got ", dtype_name(d));
}
void check_floating(const char* op, const Tensor& t) {
  check_defined(op, t);
  check_floating(op, t.dtype());
}
[[noreturn]] void fail_not_floating(Dtype d) {
  fail("expected a floating point tensor (float32 or float64), got ", dtype_name(d));
}

int64_t checked_int64(const char* op, double v) {
  // [-2^63, 2^63): both bounds are exact doubles.
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
    fail(op, ": value ", v, " cannot be represented as int64");
  return static_cast<int64_t>(v);
}

std::size_t wrap_dim(const char* op, int64_t dim, std::size_t ndim, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(ndim);
  const int64_t lo = n == 0 ? -1 : -n, hi = n == 0 ? 0 : n - 1;
  if (dim < lo || dim > hi)
    fail(op, ": dimension ", dim, " out of range for a tensor of shape ", shape, " (expected ", lo,
         " to ", hi, ")");
  return static_cast<std::size_t>(dim < 0 ? dim + (n == 0 ? 1 : n) : dim);
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::size_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, ": shapes ", a, " and ", b, " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- storage ----
namespace {
/// Small data buffers are rounded up to 64 bytes, which the pool hands out 64-byte aligned: every
/// tensor's data is then 64-byte aligned, so SIMD kernels (whose scalar head depends on the
/// address) give bit-identical results for the same values wherever the buffer lies.
std::size_t small_bytes(std::size_t n) { return (n + 63) / 64 * 64; }
}  // namespace

Storage::Storage(std::size_t n) : nbytes(n) {
  // Small buffers come from the graph-object pool; large ones from the buffer cache.
  data = n <= kPoolMaxBytes ? pool_allocate(small_bytes(n)) : buffer_allocate(n);
}
Storage::~Storage() {
  if (nbytes <= kPoolMaxBytes)
    pool_deallocate(data, small_bytes(nbytes));
  else
    buffer_deallocate(data, nbytes);
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> s, Shape sh, Dtype d)
    : storage(std::move(s)), shape(std::move(sh)), numel(shape_numel(shape)), dtype(d) {}

TensorImpl::~TensorImpl() { release_node(std::move(grad_fn)); }

void fail_stale_view(const TensorImpl& t) {
  const Rebase& r = *t.storage->rebase;
  fail(r.op, ": an in-place operation modified a tensor of shape ", r.shape, " that has views (",
       t.shape,
       " made by reshape) used afterwards; their gradients would be wrong (clone() before "
       "modifying, or make the view after the in-place op)");
}

AutogradMeta& TensorImpl::autograd_meta() {
  if (!meta) meta = std::make_unique<AutogradMeta>();
  return *meta;
}

// ---- Tensor: metadata ----
Tensor::Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

static TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  if (!impl) fail("Tensor::", what, ": the tensor is undefined");
  return *impl;
}

const Shape& Tensor::shape() const { return checked(impl_, "shape").shape; }
std::size_t Tensor::numel() const { return checked(impl_, "numel").numel; }
Dtype Tensor::dtype() const { return checked(impl_, "dtype").dtype; }
std::size_t Tensor::size(int64_t d) const {
  if (dim() == 0)
    fail("size: dimension ", d, " out of range for a 0-d tensor (it has no dimensions)");
  return shape()[wrap_dim("size", d, dim(), shape())];
}

template <typename T>
T* Tensor::data_ptr() const {
  TensorImpl& i = checked(impl_, "data_ptr");
  const Dtype want = std::is_same_v<T, double>    ? Dtype::float64
                     : std::is_same_v<T, int64_t> ? Dtype::int64
                                                  : Dtype::float32;
  if (i.dtype != want)
    fail("data_ptr: tensor has dtype ", dtype_name(i.dtype), ", asked for ", dtype_name(want));
  return i.data<T>();
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;

template <typename T>
std::vector<T> Tensor::to_vector() const {
  TensorImpl& i = checked(impl_, "to_vector");
  return dispatch_all(i.dtype, [&](auto tag) {
    using S = decltype(tag);
    const S* p = i.data<S>();
    std::vector<T> out(i.numel);
    for (std::size_t k = 0; k < i.numel; ++k) out[k] = static_cast<T>(p[k]);
    return out;
  });
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int> Tensor::to_vector<int>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<std::size_t> Tensor::to_vector<std::size_t>() const;

template <typename T>
T Tensor::item() const {
  TensorImpl& i = checked(impl_, "item");
  if (i.numel != 1)
    fail("item: only a one-element tensor can be converted to a scalar, got shape ", i.shape);
  return dispatch_all(i.dtype,
                      [&](auto tag) { return static_cast<T>(i.data<decltype(tag)>()[0]); });
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int Tensor::item<int>() const;
template int64_t Tensor::item<int64_t>() const;

Tensor Tensor::detach() const {
  TensorImpl& i = checked(impl_, "detach");
  auto out = make_pooled<TensorImpl>(i.storage, i.shape, i.dtype);
  out->copy_of = i.copy_of;  // still a copy: in-place ops on it would miss the original too
  return Tensor(std::move(out));
}

// ---- Tensor: autograd state ----
bool Tensor::requires_grad() const { return checked(impl_, "requires_grad").requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  TensorImpl& i = checked(impl_, "requires_grad_");
  if (on && i.dtype == Dtype::int64)
    fail("requires_grad_: only floating point tensors can require gradients, got int64");
  if (i.grad_fn && !on)
    fail("requires_grad_: can only change requires_grad of leaf tensors; this one was made by ",
         i.grad_fn->name(), " (use detach())");
  i.requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return leaf_grad(checked(impl_, "grad")); }

void Tensor::set_grad(const Tensor& g) const {
  TensorImpl& i = checked(impl_, "set_grad");
  if (g.defined() && (g.shape() != i.shape || g.dtype() != i.dtype))
    fail("set_grad: gradient of shape ", g.shape(), " (", dtype_name(g.dtype()),
         ") does not match tensor of shape ", i.shape, " (", dtype_name(i.dtype), ")");
  set_leaf_grad(i, g);
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_, "grad_fn").grad_fn; }
bool Tensor::is_leaf() const { return checked(impl_, "is_leaf").grad_fn == nullptr; }
uint32_t Tensor::version() const { return checked(impl_, "version").storage->version; }

const std::string& Tensor::name() const {
  static const std::string none;
  const TensorImpl& i = checked(impl_, "name");
  return i.meta ? i.meta->name : none;
}
Tensor& Tensor::set_name(std::string n) {
  checked(impl_, "set_name").autograd_meta().name = std::move(n);
  return *this;
}

void Tensor::backward(const Tensor& g, std::optional<bool> retain_graph, bool create_graph) const {
  if (impl_) check_view_current(*this);
  xg::backward({*this}, g.defined() ? TensorList{g} : TensorList{}, retain_graph, create_graph);
}

void Tensor::retain_grad() const {
  TensorImpl& i = checked(impl_, "retain_grad");
  if (!i.requires_grad) fail("retain_grad: called on a tensor that does not require grad");
  if (!i.grad_fn || (i.meta && i.meta->retains_grad)) return;  // leaves keep grads anyway
  i.autograd_meta().retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  i.grad_fn->pre_hooks().push_back([weak](const Tensor& g) {
    if (auto self = weak.lock()) {
      AutogradMeta& m = self->autograd_meta();
      m.grad = m.grad.defined() ? add(m.grad, g) : (is_grad_enabled() ? g : g.detach());
      m.grad.impl()->copy_of = nullptr;  // .grad() is the user's to modify in place
    }
    return Tensor();
  });
}
bool Tensor::retains_grad() const {
  const TensorImpl& i = checked(impl_, "retains_grad");
  return i.meta && i.meta->retains_grad;
}

void Tensor::register_hook(GradHook hook) const {
  TensorImpl& i = checked(impl_, "register_hook");
  if (!i.requires_grad)
    fail("register_hook: cannot register a hook on a tensor that does not require grad");
  if (i.grad_fn)
    i.grad_fn->pre_hooks().push_back(std::move(hook));
  else
    add_leaf_hook(i, std::move(hook));
}

void Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  TensorImpl& i = checked(impl_, "register_post_accumulate_grad_hook");
  if (!i.requires_grad)
    fail(
        "register_post_accumulate_grad_hook: cannot register a hook on a tensor that does not "
        "require grad (shape ",
        i.shape, ")");
  if (i.grad_fn)
    fail(
        "register_post_accumulate_grad_hook: only leaf tensors accumulate into grad(); this "
        "tensor of shape ",
        i.shape, " was made by ", i.grad_fn->name(), " (use register_hook)");
  add_post_accumulate_hook(i, std::move(hook));
}

// ---- method forms ----
Tensor Tensor::sum() const { return xg::sum(*this); }
Tensor Tensor::sum(std::vector<int64_t> d, bool k) const { return xg::sum(*this, std::move(d), k); }
Tensor Tensor::mean() const { return xg::mean(*this); }
Tensor Tensor::mean(std::vector<int64_t> d, bool k) const {
  return xg::mean(*this, std::move(d), k);
}
Tensor Tensor::max() const { return xg::max(*this); }
Tensor Tensor::min() const { return xg::min(*this); }
Tensor Tensor::exp() const { return xg::exp(*this); }
Tensor Tensor::log() const { return xg::log(*this); }
Tensor Tensor::sqrt() const { return xg::sqrt(*this); }
Tensor Tensor::abs() const { return xg::abs(*this); }
Tensor Tensor::tanh() const { return xg::tanh(*this); }
Tensor Tensor::sigmoid() const { return xg::sigmoid(*this); }
Tensor Tensor::relu() const { return xg::relu(*this); }
Tensor Tensor::pow(double e) const { return xg::pow(*this, e); }
Tensor Tensor::pow(const Tensor& e) const { return xg::pow(*this, e); }
Tensor Tensor::matmul(const Tensor& o) const { return xg::matmul(*this, o); }
Tensor Tensor::reshape(Shape s) const { return xg::reshape(*this, std::move(s)); }
Tensor Tensor::view(std::vector<int64_t> s) const { return xg::view(*this, std::move(s)); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return xg::flatten(*this, s, e); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return xg::transpose(*this, a, b); }
Tensor Tensor::t() const {
  check_defined("t", *this);
  if (dim() != 2) fail("t: expected a 2-D tensor, got shape ", shape());
  return xg::transpose(*this, 0, 1);
}
Tensor Tensor::permute(std::vector<int64_t> d) const { return xg::permute(*this, std::move(d)); }
Tensor Tensor::unsqueeze(int64_t d) const { return xg::unsqueeze(*this, d); }
Tensor Tensor::squeeze() const { return xg::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return xg::squeeze(*this, d); }
Tensor Tensor::expand(Shape s) const { return xg::expand(*this, std::move(s)); }
Tensor Tensor::select(int64_t d, int64_t i) const { return xg::select(*this, d, i); }
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return xg::narrow(*this, d, s, l); }
Tensor Tensor::softmax(int64_t d) const { return xg::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return xg::log_softmax(*this, d); }
Tensor Tensor::argmax(int64_t d, bool k) const { return xg::argmax(*this, d, k); }
Tensor Tensor::argmin(int64_t d, bool k) const { return xg::argmin(*this, d, k); }

// ---- printing ----
namespace {
/// A float as PyTorch prints it: fixed or scientific with 4 decimals, nan, inf.
std::string format_float(double x, bool sci) {
  std::ostringstream s;
  if (std::isnan(x))
    s << "nan";
  else if (std::isinf(x))
    s << (x > 0 ? "inf" : "-inf");
  else
    s << (sci ? std::scientific : std::fixed) << std::setprecision(4) << x;
  return s.str();
}

/// The elements formatted as PyTorch does: integers as they are, floats with 4 decimals.
std::vector<std::string> format_elements(const Tensor& t) {
  std::vector<std::string> out;
  out.reserve(t.numel());
  if (t.dtype() == Dtype::int64) {
    const int64_t* p = t.data_ptr<int64_t>();
    for (std::size_t k = 0; k < t.numel(); ++k) out.push_back(std::to_string(p[k]));
    return out;
  }
  const std::vector<double> v = t.to_vector<double>();
  double maxabs = 0, minabs = INFINITY;
  for (double x : v)
    if (std::isfinite(x) && x != 0) {
      maxabs = std::max(maxabs, std::fabs(x));
      minabs = std::min(minabs, std::fabs(x));
    }
  const bool sci = maxabs >= 1e8 || (minabs < 1e-4 && maxabs > 0);
  for (double x : v) out.push_back(format_float(x, sci));
  return out;
}

struct Printer {
  std::ostream& os;
  const std::vector<std::string>& v;
  const Shape& shape;
  std::size_t width;
  bool summarize;

  // Prints dims [d, ...) of the block starting at flat offset `off`; `indent` columns deep.
  void print(std::size_t d, std::size_t off, std::size_t indent) const {
    if (d == shape.size()) {
      const std::string& s = v[off];
      os << std::string(width > s.size() ? width - s.size() : 0, ' ') << s;
      return;
    }
    std::size_t stride = 1;
    for (std::size_t k = d + 1; k < shape.size(); ++k) stride *= shape[k];
    const std::size_t n = shape[d];
    os << '[';
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) {
        os << ',';
        if (d + 1 == shape.size())
          os << ' ';
        else
          os << std::string(shape.size() - d - 1, '\n') << std::string(indent + 1, ' ');
      }
      if (summarize && n > 6 && i == 3) {  // first and last three, as PyTorch past 1000 elements
        os << "...";
        i = n - 4;
        continue;
      }
      print(d + 1, off + i * stride, indent + 1);
    }
    os << ']';
  }
};
}  // namespace

std::string Tensor::to_string() const {
  if (!impl_) return "tensor(undefined)";
  const std::vector<std::string> v = format_elements(*this);
  std::ostringstream out;
  Printer p{out, v, impl_->shape, 0, v.size() > 1000};
  for (const std::string& s : v) p.width = std::max(p.width, s.size());
  p.os << "tensor(";
  if (v.empty() && !impl_->shape.empty())
    p.os << "[]";
  else
    p.print(0, 0, 7);
  // PyTorch names the dtype when it is not the default one (int64 only when empty).
  if (impl_->dtype == Dtype::float64 || (impl_->dtype == Dtype::int64 && v.empty()))
    p.os << ", dtype=" << dtype_name(impl_->dtype);
  if (impl_->grad_fn)
    p.os << ", grad_fn=<" << impl_->grad_fn->name() << ">";
  else if (impl_->requires_grad)
    p.os << ", requires_grad=true";
  p.os << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace xg
