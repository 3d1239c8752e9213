// Directions of a loss landscape: snapshots of a model's parameters or state, counter-based
// Gaussian directions, the paper's normalizations and the direction between two models.
#include <cmath>
#include <cstring>
#include <map>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"
#include "nn/serialize.hpp"
#include "viz/landscape.hpp"
#include "viz/landscape_detail.hpp"

namespace xg::viz {

namespace detail {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const void* data, std::size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

uint64_t fingerprint(const nn::NamedTensors& tensors) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& entry : tensors) {  // not a structured binding: the lambda below captures t
    const std::string& name = entry.first;
    const Tensor& t = entry.second;
    h = fnv1a(name.data(), name.size() + 1, h);  // the terminating '\0' separates names
    const int dt = static_cast<int>(t.dtype());
    h = fnv1a(&dt, sizeof dt, h);
    for (std::size_t s : t.shape()) h = fnv1a(&s, sizeof s, h);
    if (t.numel() > 0)
      dispatch_all(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        h = fnv1a(t.data_ptr<T>(), t.numel() * sizeof(T), h);
      });
  }
  return h;
}

void check_same_entries(const char* who, const nn::NamedTensors& a, const nn::NamedTensors& b,
                        const char* what_a, const char* what_b) {
  XG_CHECK(a.size() == b.size(), who, ": ", what_a, " has ", a.size(), " entries but ", what_b,
           " has ", b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& [na, ta] = a[i];
    const auto& [nb, tb] = b[i];
    XG_CHECK(na == nb, who, ": entry ", i, " is '", na, "' in ", what_a, " but '", nb, "' in ",
             what_b);
    XG_CHECK(ta.defined() && tb.defined(), who, ": entry '", na, "' is undefined");
    XG_CHECK(ta.shape() == tb.shape(), who, ": entry '", na, "' has shape ", ta.shape(), " in ",
             what_a, " but ", tb.shape(), " in ", what_b);
    XG_CHECK(ta.dtype() == tb.dtype(), who, ": entry '", na, "' is ", dtype_name(ta.dtype()),
             " in ", what_a, " but ", dtype_name(tb.dtype()), " in ", what_b);
  }
}

double sum_squares(const Tensor& t, std::size_t begin, std::size_t end) {
  return dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data_ptr<T>();
    double s = 0;
    for (std::size_t i = begin; i < end; ++i) s += static_cast<double>(p[i]) * p[i];
    return s;
  });
}

}  // namespace detail

using detail::check_same_entries;

const char* to_string(DirectionKind kind) {
  return kind == DirectionKind::weights ? "weights" : "states";
}
const char* to_string(Normalization norm) {
  switch (norm) {
    case Normalization::filter:
      return "filter";
    case Normalization::layer:
      return "layer";
    case Normalization::weight:
      return "weight";
    case Normalization::none:
      break;
  }
  return "none";
}
const char* to_string(Ignore ignore) { return ignore == Ignore::biasbn ? "biasbn" : "none"; }

DirectionKind parse_direction_kind(const std::string& s) {
  if (s == "weights") return DirectionKind::weights;
  if (s == "states") return DirectionKind::states;
  fail("parse_direction_kind: unknown direction kind '", s, "' (expected weights or states)");
}
Normalization parse_normalization(const std::string& s) {
  if (s == "filter") return Normalization::filter;
  if (s == "layer") return Normalization::layer;
  if (s == "weight") return Normalization::weight;
  if (s == "none" || s.empty()) return Normalization::none;
  fail("parse_normalization: unknown normalization '", s,
       "' (expected filter, layer, weight or none)");
}
Ignore parse_ignore(const std::string& s) {
  if (s == "biasbn") return Ignore::biasbn;
  if (s == "none" || s.empty()) return Ignore::none;
  fail("parse_ignore: unknown ignore rule '", s, "' (expected biasbn or none)");
}

double Direction::norm() const {
  double s = 0;
  for (const auto& [name, t] : tensors)
    if (t.defined() && t.dtype() != Dtype::int64) s += detail::sum_squares(t, 0, t.numel());
  return std::sqrt(s);
}

nn::NamedTensors snapshot(const nn::Module& model, DirectionKind kind) {
  NoGradGuard no_grad;
  nn::NamedTensors out;
  for (auto& [name, t] :
       kind == DirectionKind::weights ? model.named_parameters() : model.state_dict()) {
    XG_CHECK(t.defined(), "snapshot: entry '", name, "' of ", model.type_name(), " is undefined");
    out.emplace_back(name, t.detach().clone());
  }
  return out;
}

nn::NamedTensors snapshot(const std::string& checkpoint, const nn::Module& model,
                          DirectionKind kind) {
  const nn::Checkpoint ck = nn::load_file(checkpoint);
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : ck.tensors) by_name[name] = &t;
  nn::NamedTensors out;
  for (const auto& [name, t] :
       kind == DirectionKind::weights ? model.named_parameters() : model.state_dict()) {
    auto it = by_name.find(name);
    XG_CHECK(it != by_name.end(), "snapshot: ", checkpoint, " has no entry '", name, "' (",
             model.type_name(), " needs it for a ", to_string(kind), " snapshot)");
    const Tensor& v = *it->second;
    XG_CHECK(v.shape() == t.shape(), "snapshot: ", checkpoint, ": entry '", name, "' has shape ",
             v.shape(), ", the model's is ", t.shape());
    XG_CHECK(v.dtype() == t.dtype(), "snapshot: ", checkpoint, ": entry '", name, "' is ",
             dtype_name(v.dtype()), ", the model's is ", dtype_name(t.dtype()));
    out.emplace_back(name, v);
  }
  return out;
}

std::vector<nn::NamedTensors> snapshots(const std::vector<std::string>& checkpoints,
                                        const nn::Module& model, DirectionKind kind) {
  std::vector<nn::NamedTensors> out;
  out.reserve(checkpoints.size());
  for (const std::string& file : checkpoints) out.push_back(snapshot(file, model, kind));
  return out;
}

nn::NamedTensors gaussian_like(const nn::NamedTensors& like, uint64_t seed) {
  nn::NamedTensors out;
  out.reserve(like.size());
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  constexpr double k53 = 1.0 / 9007199254740992.0;  // 2^-53
  for (const auto& [name, w] : like) {
    XG_CHECK(w.defined(), "gaussian_like: entry '", name, "' is undefined");
    Tensor d = zeros(w.shape(), w.dtype());
    if (w.dtype() != Dtype::int64) {
      const uint64_t key =
          detail::splitmix64(seed ^ detail::splitmix64(detail::fnv1a(name.data(), name.size())));
      dispatch(w.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = d.data_ptr<T>();
        const std::size_t n = d.numel();
        for (std::size_t k = 0; k < n; ++k) {
          // Two uniforms from the counter 2k, 2k + 1: u1 in (0, 1], u2 in [0, 1).
          const double u1 = static_cast<double>((detail::splitmix64(key + 2 * k) >> 11) + 1) * k53;
          const double u2 = static_cast<double>(detail::splitmix64(key + 2 * k + 1) >> 11) * k53;
          p[k] = static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
        }
      });
    }
    out.emplace_back(name, d);
  }
  return out;
}

void normalize_direction(nn::NamedTensors& d, const nn::NamedTensors& w, Normalization norm,
                         Ignore ignore) {
  check_same_entries("normalize_direction", d, w, "the direction", "the weights");
  for (std::size_t e = 0; e < d.size(); ++e) {
    Tensor& t = d[e].second;
    const Tensor& wt = w[e].second;
    if (t.dtype() == Dtype::int64) {
      t.zero_();
      continue;
    }
    if (t.dim() <= 1) {  // biases, BatchNorm weights and statistics
      if (ignore == Ignore::biasbn)
        t.zero_();
      else
        t.copy_(wt.detach());
      continue;
    }
    const std::size_t n = t.numel();
    if (n == 0) continue;
    dispatch(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = t.data_ptr<T>();
      const T* q = wt.data_ptr<T>();
      if (norm == Normalization::filter) {
        const std::size_t rows = t.shape()[0], len = n / rows;
        for (std::size_t j = 0; j < rows; ++j) {
          const double s = std::sqrt(detail::sum_squares(wt, j * len, (j + 1) * len)) /
                           (std::sqrt(detail::sum_squares(t, j * len, (j + 1) * len)) + 1e-10);
          for (std::size_t k = j * len; k < (j + 1) * len; ++k) p[k] = static_cast<T>(p[k] * s);
        }
      } else if (norm == Normalization::layer) {
        const double dn = std::sqrt(detail::sum_squares(t, 0, n));
        const double s = dn > 0 ? std::sqrt(detail::sum_squares(wt, 0, n)) / dn : 0.0;
        for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<T>(p[k] * s);
      } else if (norm == Normalization::weight) {
        for (std::size_t k = 0; k < n; ++k) p[k] = p[k] * q[k];
      }
    });
    bump_version(t);
  }
}

Direction random_direction(const nn::NamedTensors& w, const DirectionOptions& options) {
  Direction dir;
  dir.tensors = gaussian_like(w, options.seed());
  normalize_direction(dir.tensors, w, options.normalization(), options.ignore());
  dir.kind = options.kind();
  dir.source = "random";
  dir.seed = options.seed();
  dir.normalization = options.normalization();
  dir.ignore = options.ignore();
  dir.label = "random direction (seed " + std::to_string(options.seed()) + ", " +
              to_string(options.normalization()) + ")";
  return dir;
}

Direction random_direction(const nn::Module& model, const DirectionOptions& options) {
  return random_direction(snapshot(model, options.kind()), options);
}

Direction direction_between(const nn::NamedTensors& a, const nn::NamedTensors& b,
                            DirectionKind kind) {
  check_same_entries("direction_between", a, b, "model A", "model B");
  NoGradGuard no_grad;
  Direction dir;
  dir.kind = kind;
  dir.source = "between";
  dir.label = "theta_B - theta_A";
  for (std::size_t e = 0; e < a.size(); ++e) {
    const Tensor& ta = a[e].second;
    const Tensor& tb = b[e].second;
    Tensor d = ta.dtype() == Dtype::int64 ? zeros(ta.shape(), Dtype::int64)
                                          : (tb.detach() - ta.detach()).clone();
    dir.tensors.emplace_back(a[e].first, d);
  }
  return dir;
}

Direction direction_between(const nn::Module& a, const nn::Module& b, DirectionKind kind) {
  return direction_between(snapshot(a, kind), snapshot(b, kind), kind);
}

double cosine_similarity(const Direction& a, const Direction& b) {
  check_same_entries("cosine_similarity", a.tensors, b.tensors, "the first direction",
                     "the second");
  double dot = 0;
  for (std::size_t e = 0; e < a.tensors.size(); ++e) {
    const Tensor& x = a.tensors[e].second;
    const Tensor& y = b.tensors[e].second;
    if (x.dtype() == Dtype::int64) continue;
    dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* p = x.data_ptr<T>();
      const T* q = y.data_ptr<T>();
      for (std::size_t k = 0; k < x.numel(); ++k) dot += static_cast<double>(p[k]) * q[k];
    });
  }
  const double na = a.norm(), nb = b.norm();
  XG_CHECK(na > 0 && nb > 0, "cosine_similarity: a direction is zero (norms ", na, " and ", nb,
           ")");
  return dot / (na * nb);
}

}  // namespace xg::viz
