// Dataset's default batching, TensorDataset (row gather) and Normalize.
#include "nn/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {
namespace {

/// Raw bytes of a tensor's contiguous buffer.
const unsigned char* bytes_of(const Tensor& t) {
  return dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return reinterpret_cast<const unsigned char*>(t.data_ptr<T>());
  });
}
unsigned char* mutable_bytes_of(const Tensor& t) { return const_cast<unsigned char*>(bytes_of(t)); }

/// [b, ...rest] for a batch of b items shaped `item`.
Shape batch_shape(std::size_t b, const Shape& item) {
  Shape s{b};
  s.insert(s.end(), item.begin(), item.end());
  return s;
}

/// Shape of one row of `t` (its shape without the first dim).
Shape row_shape(const Tensor& t) { return Shape(t.shape().begin() + 1, t.shape().end()); }

/// Copies rows `indices` of `src` [N, ...] into a new tensor [B, ...] (one memcpy per row).
Tensor gather_rows(const Tensor& src, const std::vector<std::size_t>& indices) {
  Tensor out = empty(batch_shape(indices.size(), row_shape(src)), src.dtype());
  const std::size_t n = src.shape()[0];
  const std::size_t row_bytes = n == 0 ? 0 : src.numel() / n * element_size(src.dtype());
  const unsigned char* from = bytes_of(src);
  unsigned char* to = mutable_bytes_of(out);
  for (std::size_t k = 0; k < indices.size(); ++k)
    if (row_bytes) std::memcpy(to + k * row_bytes, from + indices[k] * row_bytes, row_bytes);
  return out;
}

}  // namespace

// ---- Dataset ----

void Dataset::get_batch(const std::vector<std::size_t>& indices, Tensor& data_out,
                        Tensor& target_out) const {
  XG_CHECK(!indices.empty(), "Dataset::get_batch: no indices (a batch needs at least one)");
  const std::size_t n = size();
  Example first;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    XG_CHECK(indices[k] < n, "Dataset::get_batch: index ", indices[k], " out of range for ", n,
             " examples");
    Example e = get(indices[k]);
    XG_CHECK(e.data.defined() && e.target.defined(), "Dataset::get_batch: example ", indices[k],
             " has an undefined ", e.data.defined() ? "target" : "data", " tensor");
    if (k == 0) {
      first = e;
      data_out = empty(batch_shape(indices.size(), e.data.shape()), e.data.dtype());
      target_out = empty(batch_shape(indices.size(), e.target.shape()), e.target.dtype());
    }
    for (auto [part, ref, out, what] :
         {std::tuple{&e.data, &first.data, &data_out, "data"},
          std::tuple{&e.target, &first.target, &target_out, "target"}}) {
      XG_CHECK(part->shape() == ref->shape() && part->dtype() == ref->dtype(),
               "Dataset::get_batch: example ", indices[k], " has ", what, " ",
               dtype_name(part->dtype()), part->shape(), " but example ", indices[0], " has ",
               dtype_name(ref->dtype()), ref->shape(), " (a batch needs equal shapes)");
      const std::size_t bytes = part->numel() * element_size(part->dtype());
      if (bytes) std::memcpy(mutable_bytes_of(*out) + k * bytes, bytes_of(*part), bytes);
    }
  }
}

// ---- TensorDataset ----

TensorDataset::TensorDataset(const Tensor& data, const Tensor& targets) {
  reset(data, targets, "TensorDataset");
}

void TensorDataset::reset(const Tensor& data, const Tensor& targets, const char* who) {
  XG_CHECK(data.defined() && targets.defined(), who, ": data and targets must be defined tensors");
  XG_CHECK(data.dim() >= 1 && targets.dim() >= 1, who,
           ": data and targets need a first (sample) dim, got data ", data.shape(), " and targets ",
           targets.shape());
  XG_CHECK(data.shape()[0] == targets.shape()[0], who, ": data ", data.shape(), " and targets ",
           targets.shape(), " differ in their first (sample) dim");
  data_ = data.detach();
  targets_ = targets.detach();
}

std::size_t TensorDataset::size() const { return data_.defined() ? data_.shape()[0] : 0; }

Example TensorDataset::get(std::size_t index) const {
  XG_CHECK(index < size(), "TensorDataset: index ", index, " out of range for ", size(),
           " examples");
  Example e;
  Tensor d = gather_rows(data_, {index});
  Tensor t = gather_rows(targets_, {index});
  e.data = d.reshape(row_shape(d));
  e.target = t.reshape(row_shape(t));
  return e;
}

void TensorDataset::get_batch(const std::vector<std::size_t>& indices, Tensor& data_out,
                              Tensor& target_out) const {
  const std::size_t n = size();
  for (std::size_t i : indices)
    XG_CHECK(i < n, "TensorDataset: index ", i, " out of range for ", n, " examples");
  data_out = gather_rows(data_, indices);
  target_out = gather_rows(targets_, indices);
}

TensorDataset TensorDataset::subset(std::size_t n) const {
  n = std::min(n, size());
  if (n == size()) return *this;
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  return TensorDataset(gather_rows(data_, idx), gather_rows(targets_, idx));
}

TensorDataset TensorDataset::map_data(const std::function<Tensor(const Tensor&)>& fn) const {
  Tensor mapped;
  {
    NoGradGuard no_grad;
    mapped = fn(data_);
  }
  XG_CHECK(mapped.defined() && mapped.dim() >= 1 && mapped.shape()[0] == size(),
           "TensorDataset::map_data: the function turned data ", data_.shape(), " into ",
           mapped.defined() ? shape_str(mapped.shape()) : std::string("an undefined tensor"),
           " (it must keep the first dim)");
  return TensorDataset(mapped, targets_);
}

// ---- Normalize ----

Normalize::Normalize(double m, double s) : Normalize(std::vector<double>{m}, {s}) {}

Normalize::Normalize(std::vector<double> m, std::vector<double> s)
    : mean(std::move(m)), std(std::move(s)) {
  XG_CHECK(!mean.empty() && mean.size() == std.size(), "Normalize: ", mean.size(), " means and ",
           std.size(), " stds (need equal, non-zero counts)");
  for (std::size_t c = 0; c < std.size(); ++c)
    XG_CHECK(std[c] > 0 && std::isfinite(std[c]) && std::isfinite(mean[c]), "Normalize: channel ",
             c, " has mean ", mean[c], " and std ", std[c], " (std must be finite and > 0)");
}

Tensor Normalize::operator()(const Tensor& x) const {
  check_floating("Normalize", x);
  const std::size_t channels = mean.size();
  if (channels == 1) return (x - mean[0]) / std[0];
  XG_CHECK(x.dim() >= 2 && x.shape()[1] == channels, "Normalize: ", channels,
           " channel means for a tensor ", x.shape(), " (expected [N, ", channels, ", ...])");
  Shape s(x.dim(), 1);
  s[1] = channels;
  Tensor m = tensor(mean, s, x.dtype());
  Tensor d = tensor(std, s, x.dtype());
  return (x - m) / d;
}

}  // namespace xg::nn
