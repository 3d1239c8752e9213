// Trajectories: PCA directions of an optimization path (theta_i - theta_final) and the path's
// projection onto two directions, with xtensor-blas (LAPACK syevd / gelsd through OpenBLAS).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "viz/landscape.hpp"
#include "viz/landscape_detail.hpp"

namespace xg::viz {

namespace {

/// Number of floating elements over all entries (int64 entries are left out).
std::size_t float_count(const nn::NamedTensors& t) {
  std::size_t n = 0;
  for (const auto& [name, v] : t)
    if (v.dtype() != Dtype::int64) n += v.numel();
  return n;
}

/// Writes a - b (b may be null: a itself) over the floating entries into out[0, P); entries
/// with dim <= 1 are zero when `zero_1d`.
void flatten_into(const nn::NamedTensors& a, const nn::NamedTensors* b, bool zero_1d, double* out) {
  std::size_t o = 0;
  for (std::size_t e = 0; e < a.size(); ++e) {
    const Tensor& t = a[e].second;
    if (t.dtype() == Dtype::int64) continue;
    const std::size_t n = t.numel();
    if (zero_1d && t.dim() <= 1) {
      std::fill(out + o, out + o + n, 0.0);
    } else {
      dispatch(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = t.data_ptr<T>();
        const T* q = b ? (*b)[e].second.template data_ptr<T>() : nullptr;
        for (std::size_t i = 0; i < n; ++i)
          out[o + i] =
              q ? static_cast<double>(p[i]) - static_cast<double>(q[i]) : static_cast<double>(p[i]);
      });
    }
    o += n;
  }
}

/// A direction shaped like `like` from the flat vector v (int64 entries zero).
Direction unflatten(const double* v, const nn::NamedTensors& like, DirectionKind kind) {
  Direction d;
  d.kind = kind;
  std::size_t o = 0;
  for (const auto& [name, t] : like) {
    Tensor x = zeros(t.shape(), t.dtype());
    const std::size_t n = t.numel();  // the lambda cannot capture the binding t (C++17)
    if (t.dtype() != Dtype::int64) {
      dispatch(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = x.data_ptr<T>();
        for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(v[o + i]);
      });
      o += t.numel();
    }
    d.tensors.emplace_back(name, x);
  }
  return d;
}

std::string percent(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * r);
  return buf;
}

}  // namespace

PCADirections pca_directions(const std::vector<nn::NamedTensors>& path,
                             const nn::NamedTensors& final_point, Ignore ignore,
                             DirectionKind kind) {
  const char* who = "pca_directions";
  const std::size_t n = path.size();
  XG_CHECK(n >= 2, who, ": need at least 2 snapshots of the path, got ", n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string what = "snapshot " + std::to_string(i);
    detail::check_same_entries(who, path[i], final_point, what.c_str(), "the final point");
  }
  const std::size_t p = float_count(final_point);
  XG_CHECK(p > 0, who, ": the snapshots have no floating point entries");
  const bool zero_1d = ignore == Ignore::biasbn;

  // Rows theta_i - theta_final, centered over the rows (as sklearn's PCA).
  xt::xtensor<double, 2> m = xt::zeros<double>({n, p});
  for (std::size_t i = 0; i < n; ++i) flatten_into(path[i], &final_point, zero_1d, &m(i, 0));
  for (std::size_t j = 0; j < p; ++j) {
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += m(i, j);
    mean /= static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) m(i, j) -= mean;
  }
  for (double v : m) XG_CHECK(std::isfinite(v), who, ": the snapshots contain NaN or inf");

  // Eigen-decomposition of the n x n Gram matrix: M M^T = U diag(lambda) U^T; the principal
  // directions are M^T u_k / sqrt(lambda_k), the singular values sqrt(lambda_k).
  const xt::xtensor<double, 2> gram = xt::linalg::dot(m, xt::transpose(m));
  auto [w, u] = xt::linalg::eigh(gram);
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) total += gram(i, i);
  XG_CHECK(total > 0, who, ": all snapshots are equal (the path does not move)");

  PCADirections out;
  Direction* dirs[2] = {&out.x, &out.y};
  std::vector<double> comp(p);
  std::vector<double> first;
  for (int c = 0; c < 2; ++c) {
    const std::size_t k = n - 1 - static_cast<std::size_t>(c);
    const double lambda = k < n ? std::max(0.0, w(k)) : 0.0;
    const bool usable = n >= 2 && lambda > 1e-12 * total && (c == 0 || n >= 2);
    if (c == 1 && (n < 2 || !usable)) {
      // The path spans one dimension: any unit vector orthogonal to PC1 completes the plane.
      // A fixed Gaussian (seed 0) made orthogonal to PC1 keeps it reproducible.
      nn::NamedTensors g = gaussian_like(final_point, 0);
      flatten_into(g, nullptr, zero_1d, comp.data());
      double dot = 0;
      for (std::size_t j = 0; j < p; ++j) dot += comp[j] * first[j];
      double norm = 0;
      for (std::size_t j = 0; j < p; ++j) {
        comp[j] -= dot * first[j];
        norm += comp[j] * comp[j];
      }
      norm = std::sqrt(norm);
      XG_CHECK(norm > 0, who, ": cannot complete the plane of a one-dimensional path");
      for (double& v : comp) v /= norm;
      out.explained_variance_ratio[1] = 0;
      out.explained_variance[1] = 0;
      out.singular_values[1] = 0;
    } else {
      XG_CHECK(usable, who, ": the centered path has no variance along its first component");
      // Sign: the largest-magnitude entry of u_k is positive.
      std::size_t imax = 0;
      for (std::size_t i = 1; i < n; ++i)
        if (std::abs(u(i, k)) > std::abs(u(imax, k))) imax = i;
      const double sign = u(imax, k) < 0 ? -1.0 : 1.0;
      const double scale = sign / std::sqrt(lambda);
      std::fill(comp.begin(), comp.end(), 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        const double ui = u(i, k) * scale;
        const double* row = &m(i, 0);
        for (std::size_t j = 0; j < p; ++j) comp[j] += ui * row[j];
      }
      out.explained_variance_ratio[c] = lambda / total;
      out.explained_variance[c] = lambda / static_cast<double>(n - 1);
      out.singular_values[c] = std::sqrt(lambda);
    }
    if (c == 0) first = comp;
    *dirs[c] = unflatten(comp.data(), final_point, kind);
    if (zero_1d)  // as the paper's code: 1-D entries of the components are zeroed
      for (auto& [name, t] : dirs[c]->tensors)
        if (t.dim() <= 1 && t.dtype() != Dtype::int64) t.zero_();
    dirs[c]->source = "pca";
    dirs[c]->ignore = ignore;
    dirs[c]->label =
        std::string(c == 0 ? "PC1" : "PC2") + " (" + percent(out.explained_variance_ratio[c]) + ")";
  }
  return out;
}

ProjectedPath project_path(const std::vector<nn::NamedTensors>& path,
                           const nn::NamedTensors& origin, const Direction& dx, const Direction& dy,
                           Projection method) {
  const char* who = "project_path";
  detail::check_same_entries(who, dx.tensors, origin, "the x direction", "the origin");
  detail::check_same_entries(who, dy.tensors, origin, "the y direction", "the origin");
  for (std::size_t i = 0; i < path.size(); ++i) {
    const std::string what = "snapshot " + std::to_string(i);
    detail::check_same_entries(who, path[i], origin, what.c_str(), "the origin");
  }
  const std::size_t p = float_count(origin);
  std::vector<double> vx(p), vy(p), v(p);
  flatten_into(dx.tensors, nullptr, false, vx.data());
  flatten_into(dy.tensors, nullptr, false, vy.data());
  double nx = 0, ny = 0;
  for (std::size_t j = 0; j < p; ++j) nx += vx[j] * vx[j], ny += vy[j] * vy[j];
  nx = std::sqrt(nx), ny = std::sqrt(ny);
  XG_CHECK(nx > 0 && ny > 0, who, ": a direction is zero (norms ", nx, " and ", ny, ")");
  ProjectedPath out;
  if (method == Projection::cosine) {
    for (const auto& snap : path) {
      flatten_into(snap, &origin, false, v.data());
      double a = 0, b = 0;
      for (std::size_t j = 0; j < p; ++j) a += v[j] * vx[j], b += v[j] * vy[j];
      out.x.push_back(a / nx);
      out.y.push_back(b / ny);
    }
    return out;
  }
  if (path.empty()) return out;
  // Least squares [dx dy] [x; y] = v for every snapshot at once (LAPACK gelsd).
  xt::xtensor<double, 2> a = xt::zeros<double>({p, std::size_t(2)});
  xt::xtensor<double, 2> rhs = xt::zeros<double>({p, path.size()});
  for (std::size_t j = 0; j < p; ++j) a(j, 0) = vx[j], a(j, 1) = vy[j];
  for (std::size_t i = 0; i < path.size(); ++i) {
    flatten_into(path[i], &origin, false, v.data());
    for (std::size_t j = 0; j < p; ++j) rhs(j, i) = v[j];
  }
  const auto result = xt::linalg::lstsq(a, rhs);
  const auto& sol = std::get<0>(result);
  XG_CHECK(std::get<2>(result) == 2, who,
           ": the two directions are parallel (rank 1); least squares has no unique answer");
  for (std::size_t i = 0; i < path.size(); ++i) {
    out.x.push_back(sol(0, i));
    out.y.push_back(sol(1, i));
  }
  return out;
}

void write_path_csv(const ProjectedPath& path, const std::vector<std::string>& names,
                    const std::string& csv) {
  XG_CHECK(path.x.size() == path.y.size(), "write_path_csv: ", path.x.size(), " x values but ",
           path.y.size(), " y values");
  XG_CHECK(names.empty() || names.size() == path.x.size(), "write_path_csv: ", names.size(),
           " names for ", path.x.size(), " points");
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string text = "index,name,x,y\n";
  char buf[96];
  for (std::size_t i = 0; i < path.x.size(); ++i) {
    std::snprintf(buf, sizeof buf, ",%.17g,%.17g\n", path.x[i], path.y[i]);
    text += std::to_string(i) + "," + (names.empty() ? std::string() : quote(names[i])) + buf;
  }
  const std::string tmp = csv + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f.good()) detail::io_fail("write_path_csv: cannot open ", tmp, " for writing (", csv, ")");
    f << text;
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      detail::io_fail("write_path_csv: writing ", tmp, " failed");
    }
  }
  if (std::rename(tmp.c_str(), csv.c_str()) != 0) {
    std::remove(tmp.c_str());
    detail::io_fail("write_path_csv: cannot rename ", tmp, " to ", csv);
  }
}

}  // namespace xg::viz
