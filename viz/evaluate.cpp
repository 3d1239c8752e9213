// The landscape evaluation engine: grid points spread over worker threads (one model replica
// each), the affine-first-layer cache, CSV rows written as computed with JSON metadata beside
// them, resumption of an interrupted run, and the progress bar.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"
#include "nn/fashion_mnist.hpp"
#include "nn/functional.hpp"
#include "nn/layers.hpp"
#include "nn/models.hpp"
#include "nn/sequential.hpp"
#include "viz/landscape.hpp"
#include "viz/landscape_detail.hpp"

namespace xg::viz {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Axes

/// The shortest decimal text that reads back as exactly v.
std::string exact(double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

/// Parses a double that must take the whole text; nullopt-like flag via ok.
bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

}  // namespace

Axis::Axis(double min_, double max_, std::size_t num_) : min(min_), max(max_), num(num_) {
  XG_CHECK(std::isfinite(min) && std::isfinite(max), "Axis: bounds must be finite, got ",
           exact(min), " and ", exact(max));
  XG_CHECK(min <= max, "Axis: min ", exact(min), " is greater than max ", exact(max));
  XG_CHECK(num >= 1 && num <= 100000000, "Axis: the number of points must be in [1, 1e8], got ",
           num);
}

Axis::Axis(const std::string& spec) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : spec) {
    if (c == ':') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  double lo = 0, hi = 0, n = 0;
  XG_CHECK(parts.size() == 3 && parse_double(parts[0], lo) && parse_double(parts[1], hi) &&
               parse_double(parts[2], n),
           "Axis: cannot parse '", spec, "'; expected min:max:num such as -1:1:51");
  XG_CHECK(n >= 1 && n <= 1e8 && n == std::floor(n), "Axis: '", spec,
           "': the number of points must be a whole number in [1, 1e8]");
  *this = Axis(lo, hi, static_cast<std::size_t>(n));
}

Axis::Axis(const char* spec) : Axis(std::string(spec ? spec : "")) {}

Axis Axis::around(const std::vector<double>& values, std::size_t num, double margin) {
  XG_CHECK(!values.empty(), "Axis::around: no values");
  XG_CHECK(std::isfinite(margin) && margin >= 0, "Axis::around: margin must be >= 0, got ",
           exact(margin));
  double lo = values[0], hi = values[0];
  for (double v : values) {
    XG_CHECK(std::isfinite(v), "Axis::around: the values contain ", exact(v));
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double m = hi > lo ? margin * (hi - lo) : 0.1;
  return Axis(lo - m, hi + m, num);
}

std::vector<double> Axis::values() const {
  std::vector<double> v(num);
  if (num == 1) {
    v[0] = min;
    return v;
  }
  const double step = (max - min) / static_cast<double>(num - 1);
  for (std::size_t i = 0; i < num; ++i) v[i] = min + step * static_cast<double>(i);
  v[num - 1] = max;  // exact end point, as numpy.linspace
  return v;
}

std::string Axis::to_string() const { return exact(min) + ":" + exact(max) + ":" + exact(num); }

namespace {

// ---------------------------------------------------------------------------------------------
// Data: the examples in fixed batches, made once and shared read-only by the workers

struct Batches {
  std::vector<Tensor> x, y;
  std::size_t n = 0;
};

Batches make_batches(const nn::Dataset& data, std::size_t limit, std::size_t batch_size) {
  XG_CHECK(batch_size > 0, "evaluate_grid: batch_size must be > 0");
  Batches b;
  b.n = limit > 0 ? std::min(limit, data.size()) : data.size();
  XG_CHECK(b.n > 0, "evaluate_grid: the data set is empty");
  for (std::size_t i = 0; i < b.n; i += batch_size) {
    const std::size_t e = std::min(b.n, i + batch_size);
    std::vector<std::size_t> idx(e - i);
    for (std::size_t k = i; k < e; ++k) idx[k - i] = k;
    Tensor x, y;
    data.get_batch(idx, x, y);
    b.x.push_back(x);
    b.y.push_back(y);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// The affine first layer: model = tail(affine(pre(x))) with pre parameter-free

/// Appends the leaf modules `m` runs in order, if its forward is known to be "children in
/// registration order" (Sequential, MLP, SoftmaxRegression); false otherwise.
bool chain_of(nn::Module& m, std::vector<nn::Module*>& out) {
  if (auto* s = dynamic_cast<nn::Sequential*>(&m)) {
    for (const auto& c : s->modules())
      if (!chain_of(*c, out)) return false;
    return true;
  }
  if (dynamic_cast<nn::MLP*>(&m) || dynamic_cast<nn::SoftmaxRegression*>(&m)) {
    for (const auto& [name, c] : m.named_children())
      if (!chain_of(*c, out)) return false;
    return true;
  }
  if (!m.children().empty()) return false;
  out.push_back(&m);
  return true;
}

/// Where the chain splits: leaves [0, affine) are parameter-free, leaf `affine` is a Linear or
/// Conv2d, the rest is the tail.
struct Plan {
  bool ok = false;
  std::vector<nn::Module*> leaves;
  std::size_t affine = 0;
  std::vector<std::string> names;  // state names of the affine layer's parameters
};

Plan make_plan(nn::Module& model) {
  Plan p;
  if (!chain_of(model, p.leaves)) return p;
  for (std::size_t i = 0; i < p.leaves.size(); ++i) {
    nn::Module* m = p.leaves[i];
    if (m->named_parameters(false).empty() && m->named_buffers(false).empty()) continue;
    if (!dynamic_cast<nn::Linear*>(m) && !dynamic_cast<nn::Conv2d*>(m)) return p;
    if (!m->named_buffers(false).empty()) return p;
    p.affine = i;
    for (const auto& [name, t] : m->named_parameters(false))
      p.names.push_back(m->path() + "." + name);
    p.ok = true;
    return p;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Replicas: a model per worker whose moved entries are rewritten in place for every point

struct Setup {
  nn::NamedTensors state;          // the base's state dict (detached copies)
  std::vector<std::size_t> moved;  // indices into state of float entries some direction moves
  std::vector<std::vector<const Tensor*>> dir_of;  // per moved entry, per direction: its tensor
  std::size_t ndirs = 0;
};

Setup make_setup(const nn::Module& base, const std::vector<Direction>& dirs) {
  Setup s;
  s.state = snapshot(base, DirectionKind::states);
  s.ndirs = dirs.size();
  std::map<std::string, std::size_t> index;
  for (std::size_t e = 0; e < s.state.size(); ++e) index[s.state[e].first] = e;
  std::vector<std::vector<const Tensor*>> per_entry(s.state.size(),
                                                    std::vector<const Tensor*>(dirs.size()));
  for (std::size_t k = 0; k < dirs.size(); ++k) {
    for (const auto& [name, t] : dirs[k].tensors) {
      auto it = index.find(name);
      XG_CHECK(it != index.end(), "evaluate_grid: direction ", k, " has an entry '", name,
               "' that the base model (", base.type_name(), ") does not have");
      const Tensor& w = s.state[it->second].second;
      XG_CHECK(t.defined() && t.shape() == w.shape() && t.dtype() == w.dtype(),
               "evaluate_grid: direction ", k, " entry '", name, "' is ",
               t.defined() ? shape_str(t.shape()) : std::string("undefined"), " ",
               t.defined() ? dtype_name(t.dtype()) : "", ", the model's is ", w.shape(), " ",
               dtype_name(w.dtype()));
      if (t.dtype() != Dtype::int64) per_entry[it->second][k] = &t;
    }
  }
  for (std::size_t e = 0; e < s.state.size(); ++e) {
    bool any = false;
    for (const Tensor* t : per_entry[e]) any = any || t != nullptr;
    if (!any) continue;
    s.moved.push_back(e);
    s.dir_of.push_back(per_entry[e]);
  }
  return s;
}

struct Replica {
  std::shared_ptr<nn::Module> model;
  std::vector<Tensor> moved;  // the replica's own tensors for Setup::moved (share its data)
  std::vector<nn::Module*> tail;
  std::vector<Tensor> zbuf;  // per batch: the combined first-layer output (affine plan)
  bool fuse_relu = false;    // the tail starts with a ReLU, applied while combining
};

Replica make_replica(const ModelFactory& factory, const Setup& s) {
  Replica r;
  r.model = factory();
  XG_CHECK(r.model != nullptr, "evaluate_grid: the model factory returned null");
  try {
    r.model->load_state_dict(s.state, true);
  } catch (const std::exception& e) {
    fail("evaluate_grid: the factory's model does not match the base model: ", e.what());
  }
  r.model->eval();
  std::map<std::string, Tensor> mine;
  for (auto& [name, t] : r.model->state_dict()) mine[name] = t;
  for (std::size_t e : s.moved) r.moved.push_back(mine.at(s.state[e].first));
  return r;
}

/// Writes base + sum_k c[k] d_k into the replica's moved entries (in the entries' dtype).
void set_point(Replica& r, const Setup& s, const double* c) {
  for (std::size_t m = 0; m < s.moved.size(); ++m) {
    Tensor& dst = r.moved[m];
    const Tensor& w = s.state[s.moved[m]].second;
    dispatch(dst.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* out = dst.data_ptr<T>();
      const T* base = w.data_ptr<T>();
      const std::size_t n = dst.numel();
      std::copy(base, base + n, out);
      for (std::size_t k = 0; k < s.ndirs; ++k) {
        const Tensor* d = s.dir_of[m][k];
        if (!d) continue;
        const T* p = d->data_ptr<T>();
        const T ck = static_cast<T>(c[k]);
        for (std::size_t i = 0; i < n; ++i) out[i] += ck * p[i];
      }
    });
    bump_version(dst);
  }
}

/// The affine cache: for every batch, the first layer's output at the base and at each
/// direction (the direction's tensors loaded as that layer's parameters).
struct Cache {
  std::vector<std::vector<Tensor>> term;  // [1 + ndirs][batch]
};

bool make_cache(const ModelFactory& factory, const Setup& s, const std::vector<Direction>& dirs,
                const Batches& data, const Plan& plan, std::size_t max_bytes, Cache& cache) {
  Replica r = make_replica(factory, s);
  Plan p = make_plan(*r.model);  // the same structure, on this replica's modules
  if (!p.ok || p.names != plan.names) return false;
  std::map<std::string, Tensor> params;
  for (auto& [name, t] : r.model->state_dict()) params[name] = t;
  nn::Module* affine = p.leaves[p.affine];
  auto load_term = [&](std::size_t t) {  // 0: the base, k + 1: direction k
    for (const std::string& name : p.names) {
      Tensor& dst = params.at(name);
      const Tensor* src = nullptr;
      if (t == 0) {
        for (const auto& [n, v] : s.state)
          if (n == name) src = &v;
      } else {
        for (const auto& [n, v] : dirs[t - 1].tensors)
          if (n == name) src = &v;
      }
      if (src)
        dst.copy_(*src);
      else
        dst.zero_();  // a direction that does not move this layer
    }
  };
  cache.term.assign(1 + dirs.size(), {});
  for (std::size_t t = 0; t <= dirs.size(); ++t) {
    load_term(t);
    for (std::size_t b = 0; b < data.x.size(); ++b) {
      Tensor h = data.x[b];
      for (std::size_t i = 0; i < p.affine; ++i) h = (*p.leaves[i])(h);
      Tensor z = (*affine)(h);
      if (b == 0 && t == 0) {  // projected size of the whole cache
        const double per_row = static_cast<double>(z.numel() * element_size(z.dtype())) /
                               static_cast<double>(data.x[0].shape()[0]);
        if (per_row * static_cast<double>(data.n) * static_cast<double>(1 + dirs.size()) >
            static_cast<double>(max_bytes))
          return false;
      }
      cache.term[t].push_back(z);
    }
  }
  return true;
}

/// Number of rows of output [B, C] whose argmax is the int64 label in target [B]; -1 when the
/// shapes are not a classification.
int64_t count_correct(const Tensor& out, const Tensor& y) {
  if (y.dtype() != Dtype::int64 || out.dim() != 2 || y.dim() != 1 ||
      out.shape()[0] != y.shape()[0] || out.dtype() == Dtype::int64)
    return -1;
  if (out.numel() == 0) return 0;
  const std::vector<int64_t> pred = argmax(out, 1).to_vector<int64_t>();
  const int64_t* t = y.data_ptr<int64_t>();
  int64_t c = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) c += pred[i] == t[i];
  return c;
}

/// Loss and accuracy of the replica's current point over all batches (one thread, fixed order).
std::pair<double, double> eval_replica(Replica& r, const Batches& data, const nn::LossFn& loss_fn,
                                       const Cache* cache, const double* c, std::size_t ndirs) {
  double loss_sum = 0;
  int64_t correct = 0;
  bool classification = true;
  for (std::size_t b = 0; b < data.x.size(); ++b) {
    Tensor out;
    if (cache) {
      const Tensor& p0 = cache->term[0][b];
      Tensor& z = r.zbuf[b];
      if (!z.defined()) z = empty(p0.shape(), p0.dtype());
      dispatch(z.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* o = z.data_ptr<T>();
        const std::size_t n = z.numel();
        const T* q = p0.data_ptr<T>();
        const T* p1 = ndirs > 0 ? cache->term[1][b].data_ptr<T>() : q;
        const T* p2 = ndirs > 1 ? cache->term[2][b].data_ptr<T>() : q;
        const T c0 = ndirs > 0 ? static_cast<T>(c[0]) : T(0);
        const T c1 = ndirs > 1 ? static_cast<T>(c[1]) : T(0);
        // z = P0 + a P1 + b P2 in one pass, then ReLU's x < 0 ? 0 : x when it comes next.
        with_flag(r.fuse_relu, [&](auto relu) {
          for (std::size_t i = 0; i < n; ++i) {
            T v = q[i] + c0 * p1[i] + c1 * p2[i];
            if constexpr (decltype(relu)::value) v = v < T(0) ? T(0) : v;
            o[i] = v;
          }
        });
      });
      bump_version(z);
      out = z;
      for (nn::Module* m : r.tail) out = (*m)(out);
    } else {
      out = (*r.model)(data.x[b]);
    }
    const Tensor l = loss_fn(out, data.y[b]);
    XG_CHECK(l.defined() && l.numel() == 1, "evaluate_grid: the loss returned shape ",
             l.defined() ? shape_str(l.shape()) : std::string("undefined"),
             "; expected one value (a mean)");
    const std::size_t rows = data.x[b].dim() == 0 ? 1 : data.x[b].shape()[0];
    loss_sum += l.to(Dtype::float64).item<double>() * static_cast<double>(rows);
    const int64_t k = count_correct(out, data.y[b]);
    if (k < 0)
      classification = false;
    else
      correct += k;
  }
  const double n = static_cast<double>(data.n);
  return {loss_sum / n, classification ? static_cast<double>(correct) / n : kNaN};
}

nn::LossFn loss_of(const EvalOptions& o) {
  if (o.loss()) return o.loss();
  return [](const Tensor& out, const Tensor& y) { return nn::functional::cross_entropy(out, y); };
}

// ---------------------------------------------------------------------------------------------
// Files: CSV rows and JSON metadata

std::string json_path_of(const std::string& csv) {
  const std::string ext = ".csv";
  if (csv.size() > ext.size() && csv.compare(csv.size() - ext.size(), ext.size(), ext) == 0)
    return csv.substr(0, csv.size() - ext.size()) + ".json";
  return csv + ".json";
}

bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

/// Test-only fault injection: when the environment variable XGRAD_TEST_CRASH_AT names `stage`, the
/// process kills itself with SIGKILL there (tests/viz/test_landscape_crash.cpp). Stages of
/// evaluate_grid: "landscape_truncated" (a fresh run's CSV emptied, its metadata not yet written),
/// "landscape_header" (metadata written, no header line yet), "landscape_sorting" (every row
/// appended, the sorted file not yet written), "landscape_sorted" (sorted CSV written, final
/// metadata not yet).
void crash_point(const char* stage) {
  const char* at = std::getenv("XGRAD_TEST_CRASH_AT");
  if (at != nullptr && std::strcmp(at, stage) == 0) ::raise(SIGKILL);
}

/// Writes `text` to `path` atomically and durably: a temporary file in the same folder, synced,
/// renamed over `path`, then the folder synced (a crash or power cut leaves the old file or the
/// new one, never an empty or partial one).
void write_atomic(const char* who, const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    detail::io_fail(who, ": cannot open ", tmp, " for writing (", path,
                    "): ", std::strerror(errno));
  const char* p = text.data();
  std::size_t left = text.size();
  int err = 0;
  while (left > 0 && !err) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    detail::io_fail(who, ": writing ", tmp, " (", text.size(), " bytes for ", path,
                    ") failed: ", std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    detail::io_fail(who, ": cannot rename ", tmp, " to ", path, ": ", std::strerror(err));
  }
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // best effort: some file systems cannot sync a folder
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

/// True if the file at `path` holds at least one whole line (a newline).
bool holds_a_line(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string first;
  return f && std::getline(f, first) && !f.eof();
}

std::string header_of(std::size_t dims) {
  return dims == 1 ? "index,x,loss,accuracy" : "index,x,y,loss,accuracy";
}

std::string row_of(std::size_t dims, std::size_t index, double x, double y, double loss,
                   double acc) {
  char buf[160];
  if (dims == 1)
    std::snprintf(buf, sizeof buf, "%zu,%.17g,%.17g,%.17g\n", index, x, loss, acc);
  else
    std::snprintf(buf, sizeof buf, "%zu,%.17g,%.17g,%.17g,%.17g\n", index, x, y, loss, acc);
  return buf;
}

struct Row {
  std::size_t index;
  double x, y, loss, acc;
};

/// Rows of a grid CSV. A last line without its newline (a write cut short) is dropped and
/// reported through `partial` (its byte offset) when allowed, else an error.
std::vector<Row> read_rows(const char* who, const std::string& path, std::size_t& dims,
                           long* partial) {
  std::ifstream f(path, std::ios::binary);
  if (!f.good()) detail::io_fail(who, ": cannot open ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::vector<Row> rows;
  std::size_t pos = 0, line = 0;
  bool header = true;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    ++line;
    if (nl == std::string::npos) {
      if (partial) {
        *partial = static_cast<long>(pos);
        break;
      }
      // Every line xgrad writes ends with a newline: this one was cut short, and its last
      // number may be a prefix of the real one.
      fail(who, ": ", path, " line ", line, " was cut short (no newline at its end: '",
           text.substr(pos, 120), "'); the file is incomplete");
    }
    const std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (header) {
      if (l == header_of(1))
        dims = 1;
      else if (l == header_of(2))
        dims = 2;
      else
        fail(who, ": ", path, " is not a landscape CSV (line 1 is '", l.substr(0, 80),
             "', expected '", header_of(1), "' or '", header_of(2), "')");
      header = false;
      continue;
    }
    std::vector<std::string> cells;
    std::string cur;
    for (char ch : l) {
      if (ch == ',') {
        cells.push_back(cur);
        cur.clear();
      } else {
        cur += ch;
      }
    }
    cells.push_back(cur);
    Row r{0, 0, 0, 0, 0};
    double idx = 0;
    bool ok = cells.size() == dims + 3 && parse_double(cells[0], idx) && idx >= 0 &&
              idx == std::floor(idx) && idx < 1e15;
    if (ok) {
      r.index = static_cast<std::size_t>(idx);
      ok = parse_double(cells[1], r.x) && (dims == 1 || parse_double(cells[2], r.y)) &&
           parse_double(cells[dims + 1], r.loss) && parse_double(cells[dims + 2], r.acc);
    }
    XG_CHECK(ok, who, ": ", path, " line ", line, " is malformed: '", l.substr(0, 120), "'");
    rows.push_back(r);
  }
  XG_CHECK(!header, who, ": ", path, " is empty (no header line)");
  return rows;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string dataset_name_of(const nn::Dataset& data, const EvalOptions& o) {
  if (!o.dataset_name().empty()) return o.dataset_name();
  if (auto* f = dynamic_cast<const nn::FashionMNIST*>(&data))
    return std::string("FashionMNIST(") + (f->is_train() ? "train" : "test") + ")";
  return "dataset";
}

/// The settings that decide the results, in the order they are compared on resume.
std::vector<std::pair<std::string, json>> settings_of(
    const nn::Module& base, const std::vector<Direction>& dirs, const Axis& ax, const Axis& ay,
    const Batches& data, const nn::Dataset& dataset, const EvalOptions& o, bool affine,
    uint64_t base_fp) {
  std::vector<std::pair<std::string, json>> s;
  s.emplace_back("dims", dirs.size());
  s.emplace_back("x", ax.to_string());
  if (dirs.size() == 2) s.emplace_back("y", ay.to_string());
  const char* axis_names[2] = {"x", "y"};
  for (std::size_t k = 0; k < dirs.size(); ++k) {
    const Direction& d = dirs[k];
    const std::string p = std::string(axis_names[k]) + "_direction.";
    s.emplace_back(p + "source", d.source);
    s.emplace_back(p + "kind", to_string(d.kind));
    if (d.source == "random") {
      s.emplace_back(p + "seed", d.seed);
      s.emplace_back(p + "normalization", to_string(d.normalization));
      s.emplace_back(p + "ignore", to_string(d.ignore));
    }
    s.emplace_back(p + "fingerprint", hex(detail::fingerprint(d.tensors)));
  }
  s.emplace_back("dataset", dataset_name_of(dataset, o));
  s.emplace_back("count", data.n);
  s.emplace_back("batch_size", o.batch_size());
  s.emplace_back("loss", o.loss_name());
  s.emplace_back("model", o.model_name().empty() ? base.type_name() : o.model_name());
  s.emplace_back("checkpoints", o.checkpoints());
  s.emplace_back("affine_first_layer", affine);
  s.emplace_back("base_fingerprint", hex(base_fp));
  return s;
}

json metadata_json(const std::vector<std::pair<std::string, json>>& settings,
                   const std::vector<Direction>& dirs, std::size_t threads, std::size_t total,
                   std::size_t done, const std::string& started, double seconds, bool complete,
                   std::size_t nparams) {
  json j;
  j["format"] = "xgrad-landscape";
  j["version"] = 1;
  json s = json::object();
  for (const auto& [k, v] : settings) s[k] = v;
  j["settings"] = s;
  json ds = json::array();
  for (const Direction& d : dirs) {
    json o;
    o["label"] = d.label;
    o["source"] = d.source;
    o["kind"] = to_string(d.kind);
    if (d.source == "random") {
      o["seed"] = d.seed;
      o["normalization"] = to_string(d.normalization);
    }
    o["ignore"] = to_string(d.ignore);
    o["norm"] = d.norm();
    ds.push_back(o);
  }
  j["directions"] = ds;
  j["parameters"] = nparams;
  j["threads"] = threads;
  j["points"] = total;
  j["done"] = done;
  j["complete"] = complete;
  j["started"] = started;
  j["updated"] = now_iso();
  j["seconds"] = seconds;
  return j;
}

// ---------------------------------------------------------------------------------------------
// Progress

class Progress {
 public:
  Progress(const EvalOptions& o, std::size_t total, std::size_t done)
      : show_(o.progress()),
        os_(o.log() ? *o.log() : std::cerr),
        terminal_(o.log() == nullptr && ::isatty(STDERR_FILENO) == 1),
        total_(total),
        start_done_(done),
        t0_(Clock::now()) {
    const std::size_t todo = total - done;
    every_ = o.progress_every() > 0 ? o.progress_every() : std::max<std::size_t>(1, todo / 20);
  }
  void tick(std::size_t done, bool last) {
    if (!show_) return;
    const std::size_t mine = done - start_done_;
    if (!terminal_ && !last && mine % every_ != 0) return;
    const double el = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double per = mine > 0 ? el / static_cast<double>(mine) : 0.0;
    const double eta = per * static_cast<double>(total_ - done);
    if (terminal_) {
      const auto now = Clock::now();
      if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
      last_draw_ = now;
    }
    const int width = 30;
    const int fill = static_cast<int>(width * static_cast<double>(done) /
                                      static_cast<double>(std::max<std::size_t>(total_, 1)));
    std::ostringstream line;
    line << "landscape [" << std::string(fill, '#') << std::string(width - fill, '.') << "] "
         << done << "/" << total_ << " points, " << std::fixed << std::setprecision(1) << el
         << " s, " << std::setprecision(3) << per << " s/point, ETA " << std::setprecision(1) << eta
         << " s";
    if (terminal_)
      os_ << "\r" << line.str() << (last ? "\n" : "") << std::flush;
    else
      os_ << line.str() << "\n" << std::flush;
  }

 private:
  bool show_;
  std::ostream& os_;
  bool terminal_;
  std::size_t total_, start_done_, every_ = 1;
  Clock::time_point t0_, last_draw_{};
};

/// While alive, OpenBLAS runs one thread per call (the workers use the cores; and its results
/// depend on its thread count); the previous setting is restored at the end. Looked up at run
/// time, so another BLAS is simply left alone.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(bool on) {
    if (!on) return;
    get_ = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    set_ = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (!get_ || !set_) return;
    old_ = get_();
    set_(1);
  }
  ~SingleThreadedBlas() {
    if (set_ && old_ > 0) set_(old_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int (*get_)() = nullptr;
  void (*set_)(int) = nullptr;
  int old_ = 0;
};

/// Closes a FILE* (for std::unique_ptr).
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

// ---- sharing a grid among processes (EvalOptions::partition) ----

/// Appends the raw bytes of a trivially copyable value.
template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

/// Reads a value written by put at `pos` (advancing it); fails on a short message.
template <typename T>
T take(const std::string& in, std::size_t& pos) {
  XG_CHECK(pos + sizeof(T) <= in.size(), "evaluate_grid: a partition message is cut short");
  T v;
  std::memcpy(&v, in.data() + pos, sizeof v);
  pos += sizeof v;
  return v;
}

/// The message of a failed part: flag 1 and the text; "" (flag 0) when `error` is null.
std::string error_message(const std::exception_ptr& error) {
  std::string out(1, '\0');
  if (!error) return out;
  out[0] = 1;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    out += e.what();
  } catch (...) {
    out += "unknown exception";
  }
  return out;
}

/// Exchanges every part's error (collective). Rethrows this part's own; otherwise, when another
/// part failed, throws naming the first such part and its message.
void check_parts(Partition& part, const char* who, const std::exception_ptr& error) {
  const std::vector<std::string> all = part.all_gather(error_message(error));
  if (error) std::rethrow_exception(error);
  for (std::size_t p = 0; p < all.size(); ++p)
    if (!all[p].empty() && all[p][0] == 1)
      fail(who, ": rank ", p, " of ", all.size(), " failed: ", all[p].substr(1));
}

std::size_t thread_count(std::size_t requested, std::size_t todo) {
  std::size_t t = requested;
  if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(t, std::max<std::size_t>(todo, 1)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<double> Grid::field(const std::vector<double>& values) const {
  if (values.size() != x.size() * y.size())
    fail("Grid::field: ", values.size(), " values for a ", x.size(), " x ", y.size(), " grid");
  std::vector<double> z(values.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    for (std::size_t j = 0; j < y.size(); ++j) z[j * x.size() + i] = values[i * y.size() + j];
  return z;
}

Grid evaluate_grid(const ModelFactory& factory, const nn::Module& base,
                   const std::vector<Direction>& directions, const std::vector<Axis>& axes,
                   const nn::Dataset& data, const EvalOptions& options) {
  const char* who = "evaluate_grid";
  XG_CHECK(static_cast<bool>(factory), who, ": the model factory is empty");
  XG_CHECK(directions.size() == 1 || directions.size() == 2, who,
           ": expected 1 or 2 directions, got ", directions.size());
  XG_CHECK(!axes.empty() && axes.size() <= directions.size(), who, ": expected ",
           directions.size() == 1 ? "1 axis" : "1 or 2 axes", " for ", directions.size(),
           " direction(s), got ", axes.size());
  const std::size_t dims = directions.size();
  const std::shared_ptr<Partition>& part = options.partition();
  const bool shared = part != nullptr && part->parts() > 1;
  const bool writer = !shared || part->part() == 0;  // writes files, shows progress
  const Axis ax = axes[0];
  const Axis ay = dims == 2 ? axes[axes.size() - 1] : Axis(0, 0, 1);
  Grid g;
  g.dims = dims;
  g.x = ax.values();
  g.y = ay.values();
  const std::size_t total = checked_mul(who, g.x.size(), g.y.size());
  XG_CHECK(total <= 100000000, who, ": a grid of ", g.x.size(), " x ", g.y.size(),
           " points is too large (at most 1e8 points)");
  g.loss.assign(total, kNaN);
  g.accuracy.assign(total, kNaN);

  NoGradGuard no_grad;
  // OpenBLAS splits a GEMM differently for different thread counts (and the rounding with it):
  // one BLAS thread per call, whatever the worker count, keeps every point's arithmetic the same.
  SingleThreadedBlas blas(true);
  const Setup setup = make_setup(base, directions);
  const Batches batches = make_batches(data, options.limit(), options.batch_size());
  const nn::LossFn loss_fn = loss_of(options);

  // The affine plan is decided from the base model's structure (replicas are the same).
  Cache cache;
  bool affine = false;
  if (options.affine_first_layer()) {
    std::shared_ptr<nn::Module> probe = factory();
    XG_CHECK(probe != nullptr, who, ": the model factory returned null");
    const Plan plan = make_plan(*probe);
    if (plan.ok)
      affine = make_cache(factory, setup, directions, batches, plan, options.cache_bytes(), cache);
  }
  g.affine_first_layer = affine;

  // ---- files: resume or start ----
  std::vector<char> done(total, 0);
  std::size_t ndone = 0;
  const std::string csv = options.csv();
  const std::string meta = csv.empty() ? "" : json_path_of(csv);
  std::size_t nparams = 0;
  for (const Tensor& t : base.parameters()) nparams += t.numel();
  const auto settings = settings_of(base, directions, ax, ay, batches, data, options, affine,
                                    detail::fingerprint(setup.state));
  std::string started = now_iso();
  double earlier_seconds = 0;  // evaluation time of the runs this one resumes
  std::unique_ptr<std::FILE, FileCloser> file;
  // Opens csv for appending and locks it, so that two runs never write one file.
  auto open_locked = [&] {
    file.reset(std::fopen(csv.c_str(), "ab"));
    if (!file) detail::io_fail(who, ": cannot open ", csv, " for writing");
    XG_CHECK(::flock(::fileno(file.get()), LOCK_EX | LOCK_NB) == 0, who, ": ", csv,
             " is being written by another run (it is locked)");
  };
  std::exception_ptr setup_error;  // shared: part 0's file errors reach every part
  if (!csv.empty() && writer) try {
      // A CSV without even its header line holds no results (a run killed before writing it):
      // start over.
      if (options.resume() && file_exists(csv) && holds_a_line(csv)) {
        XG_CHECK(file_exists(meta), who, ": ", csv, " exists but its metadata ", meta,
                 " does not; delete ", csv, " or write to another path");
        json old;
        {
          std::ifstream f(meta);
          XG_CHECK(f.good(), who, ": cannot read ", meta);
          try {
            f >> old;
          } catch (const std::exception& e) {
            fail(who, ": ", meta, " is not valid JSON (", e.what(), "); delete ", meta, " and ",
                 csv, " to start over");
          }
        }
        XG_CHECK(old.is_object() && old.value("format", "") == "xgrad-landscape" &&
                     old.contains("settings") && old["settings"].is_object(),
                 who, ": ", meta, " is not xgrad landscape metadata; delete it and ", csv,
                 " to start over");
        const json& os = old["settings"];
        for (const auto& [key, value] : settings) {
          XG_CHECK(os.contains(key), who, ": ", meta, " has no setting '", key, "'; delete it and ",
                   csv, " to start over");
          if (os[key] != value)
            fail(who, ": ", csv, " was computed with ", key, " = ", os[key].dump(),
                 " but this run has ", key, " = ", value.dump(), "; delete ", csv, " and ", meta,
                 " or write to another path");
        }
        if (old.contains("started") && old["started"].is_string()) started = old["started"];
        if (old.contains("seconds") && old["seconds"].is_number())
          earlier_seconds = old["seconds"].get<double>();
        open_locked();
        std::size_t file_dims = 0;
        long partial = -1;
        const std::vector<Row> rows = read_rows(who, csv, file_dims, &partial);
        XG_CHECK(file_dims == dims, who, ": ", csv, " has ", file_dims,
                 "-D rows but the metadata says ", dims);
        for (const Row& r : rows) {
          XG_CHECK(r.index < total, who, ": ", csv, " has row index ", r.index, " past the grid's ",
                   total, " points");
          const double ex = g.x[r.index / g.y.size()], ey = g.y[r.index % g.y.size()];
          XG_CHECK(r.x == ex && (dims == 1 || r.y == ey), who, ": ", csv, " row ", r.index,
                   " has coordinates that are not the grid's (", exact(r.x), ", ", exact(r.y),
                   " vs ", exact(ex), ", ", exact(ey), ")");
          XG_CHECK(!done[r.index], who, ": ", csv, " has row index ", r.index, " twice");
          done[r.index] = 1;
          ++ndone;
          g.loss[r.index] = r.loss;
          g.accuracy[r.index] = r.acc;
        }
        if (partial >= 0)
          XG_CHECK(::ftruncate(::fileno(file.get()), partial) == 0, who,
                   ": cannot truncate the cut-short last line of ", csv);
      } else {
        open_locked();
        XG_CHECK(::ftruncate(::fileno(file.get()), 0) == 0, who, ": cannot truncate ", csv);
        crash_point("landscape_truncated");
        write_atomic(who, meta,
                     metadata_json(settings, directions, thread_count(options.threads(), total),
                                   total, 0, started, 0.0, false, nparams)
                             .dump(2) +
                         "\n");
        crash_point("landscape_header");
        std::fputs((header_of(dims) + "\n").c_str(), file.get());
        XG_CHECK(std::fflush(file.get()) == 0, who, ": writing ", csv, " failed");
      }
    } catch (...) {
      if (!shared) throw;
      setup_error = std::current_exception();
    }
  if (shared) {
    check_parts(*part, who, setup_error);
    // Part 0's resumed points go to every part, so all agree on the points left to compute.
    std::string msg;
    if (writer)
      for (std::size_t i = 0; i < total; ++i)
        if (done[i]) {
          put<uint64_t>(msg, i);
          put(msg, g.loss[i]);
          put(msg, g.accuracy[i]);
        }
    const std::string resumed = part->all_gather(msg)[0];
    if (!writer)
      for (std::size_t pos = 0; pos < resumed.size();) {
        const auto i = static_cast<std::size_t>(take<uint64_t>(resumed, pos));
        XG_CHECK(i < total && !done[i], who, ": a resumed point from rank 0 is out of place");
        g.loss[i] = take<double>(resumed, pos);
        g.accuracy[i] = take<double>(resumed, pos);
        done[i] = 1;
        ++ndone;
      }
  }

  // ---- the points to compute ----
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < total; ++i)
    if (!done[i]) todo.push_back(i);
  if (shared) {  // this part's contiguous slice
    const auto [begin, end] = slice_of(todo.size(), part->part(), part->parts());
    todo = std::vector<std::size_t>(todo.begin() + static_cast<std::ptrdiff_t>(begin),
                                    todo.begin() + static_cast<std::ptrdiff_t>(end));
  }
  const std::size_t nthreads = thread_count(options.threads(), todo.size());
  std::vector<Replica> replicas;
  if (!todo.empty()) {
    for (std::size_t t = 0; t < nthreads; ++t) {
      replicas.push_back(make_replica(factory, setup));
      if (affine) {
        Plan p = make_plan(*replicas.back().model);
        for (std::size_t i = p.affine + 1; i < p.leaves.size(); ++i)
          replicas.back().tail.push_back(p.leaves[i]);
        Replica& r = replicas.back();
        if (!r.tail.empty() && dynamic_cast<nn::ReLU*>(r.tail.front())) {
          r.fuse_relu = true;
          r.tail.erase(r.tail.begin());
        }
        replicas.back().zbuf.resize(batches.x.size());
      }
    }
  }

  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::exception_ptr error;
  std::size_t finished = ndone;
  EvalOptions shown = options;
  if (!writer) shown.progress(false);
  Progress progress(shown, total, ndone);
  // A finished point (the writer's side): its CSV row appended and flushed, the progress bar,
  // the user's callback (false stops the run).
  auto record = [&](std::size_t idx, double x, double y, double l, double a) {
    if (file) {
      const std::string row = row_of(dims, idx, x, y, l, a);
      if (std::fputs(row.c_str(), file.get()) < 0 || std::fflush(file.get()) != 0)
        fail(who, ": writing ", csv, " failed");
    }
    progress.tick(finished, finished == total);
    if (options.on_point() && !options.on_point()(GridPoint{idx, x, y, l, a})) stop.store(true);
  };
  std::vector<std::size_t> round = todo;  // the points the workers take (shared: a round's)
  std::string computed_now;               // shared: this round's results, to send
  const auto t0 = Clock::now();
  auto work = [&](std::size_t w) {
    NoGradGuard no_grad_here;
    Replica& r = replicas[w];
    try {
      while (!stop.load()) {
        const std::size_t k = next.fetch_add(1);
        if (k >= round.size()) break;
        const std::size_t idx = round[k];
        const double c[2] = {g.x[idx / g.y.size()], g.y[idx % g.y.size()]};
        set_point(r, setup, c);
        const auto [l, a] = eval_replica(r, batches, loss_fn, affine ? &cache : nullptr, c, dims);
        std::lock_guard<std::mutex> lock(mu);
        g.loss[idx] = l;
        g.accuracy[idx] = a;
        if (shared) {  // written, counted and shown once gathered
          ++g.computed;
          put<uint64_t>(computed_now, idx);
          put(computed_now, l);
          put(computed_now, a);
          continue;
        }
        done[idx] = 1;
        ++finished;
        ++g.computed;
        record(idx, c[0], c[1], l, a);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
      stop.store(true);
    }
  };
  auto run = [&] {
    next.store(0);
    if (nthreads == 1 || round.size() <= 1) {
      if (!round.empty()) work(0);
    } else {
      std::vector<std::thread> pool;
      for (std::size_t t = 0; t < nthreads; ++t) pool.emplace_back(work, t);
      for (auto& th : pool) th.join();
    }
  };
  if (!shared) {
    run();
  } else {
    // Rounds: every part computes some points, sends what it computed (or its error), and takes
    // all results; part 0 appends them to the CSV. The first round is 2 points per worker, the
    // next ones about kRoundSeconds of work each (from the time per point measured so far), so
    // cheap points do not pay a collective each and an interruption loses little. They go on
    // while any part has points left, unless a part failed or part 0's on_point asked to stop.
    constexpr double kRoundSeconds = 0.5;
    std::size_t chunk = 2 * nthreads;
    std::size_t pos = 0;
    for (;;) {
      const std::size_t end = stop.load() ? pos : std::min(todo.size(), pos + chunk);
      round.assign(todo.begin() + static_cast<std::ptrdiff_t>(pos),
                   todo.begin() + static_cast<std::ptrdiff_t>(end));
      pos = end;
      computed_now.clear();
      const auto r0 = Clock::now();
      run();
      const double took = std::chrono::duration<double>(Clock::now() - r0).count();
      if (!round.empty())
        chunk = std::max<std::size_t>(
            2 * nthreads, static_cast<std::size_t>(static_cast<double>(round.size()) *
                                                   kRoundSeconds / std::max(took, 1e-6)));
      std::string msg = error_message(error);
      if (!error) {
        msg += static_cast<char>(pos < todo.size() ? 1 : 0);
        msg += static_cast<char>(stop.load() ? 1 : 0);
        msg += computed_now;
      }
      const std::vector<std::string> all = part->all_gather(msg);
      bool more = false, stopping = false;
      for (std::size_t p = 0; p < all.size(); ++p) {
        const std::string& m = all[p];
        XG_CHECK(!m.empty(), who, ": an empty message from rank ", p);
        if (m[0] == 1) {
          if (error) std::rethrow_exception(error);
          fail(who, ": rank ", p, " of ", all.size(), " failed: ", m.substr(1));
        }
      }
      try {
        for (std::size_t p = 0; p < all.size(); ++p) {
          const std::string& m = all[p];
          std::size_t at = 1;
          more = take<char>(m, at) != 0 || more;
          stopping = take<char>(m, at) != 0 || stopping;
          while (at < m.size()) {
            const auto idx = static_cast<std::size_t>(take<uint64_t>(m, at));
            const double l = take<double>(m, at), a = take<double>(m, at);
            XG_CHECK(idx < total && !done[idx], who, ": rank ", p, " sent point ", idx,
                     " which is not one left to compute");
            g.loss[idx] = l;
            g.accuracy[idx] = a;
            done[idx] = 1;
            ++finished;
            if (!writer) continue;
            record(idx, g.x[idx / g.y.size()], g.y[idx % g.y.size()], l, a);
          }
        }
      } catch (...) {  // sent to the others with the next round
        if (!error) error = std::current_exception();
        stop.store(true);
        more = true;
        stopping = false;
      }
      if (!more || stopping) break;
    }
  }
  g.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  g.seconds_per_point = g.computed > 0 ? g.seconds / static_cast<double>(g.computed) : 0.0;
  g.complete = finished == total;
  file.reset();
  if (error) std::rethrow_exception(error);

  if (!csv.empty() && writer) {
    if (g.complete) {  // the final file: rows sorted by index, whatever the threads did
      std::string text = header_of(dims) + "\n";
      for (std::size_t i = 0; i < total; ++i)
        text += row_of(dims, i, g.x[i / g.y.size()], g.y[i % g.y.size()], g.loss[i], g.accuracy[i]);
      crash_point("landscape_sorting");
      write_atomic(who, csv, text);
      crash_point("landscape_sorted");
    }
    write_atomic(who, meta,
                 metadata_json(settings, directions, nthreads, total, finished, started,
                               earlier_seconds + g.seconds, g.complete, nparams)
                         .dump(2) +
                     "\n");
  }
  return g;
}

GridPoint evaluate_point(const ModelFactory& factory, const nn::Module& base,
                         const std::vector<Direction>& directions,
                         const std::vector<double>& coords, const nn::Dataset& data,
                         const EvalOptions& options) {
  XG_CHECK(static_cast<bool>(factory), "evaluate_point: the model factory is empty");
  XG_CHECK(coords.size() == directions.size(), "evaluate_point: ", directions.size(),
           " directions but ", coords.size(), " coordinates");
  NoGradGuard no_grad;
  SingleThreadedBlas blas(true);  // the same arithmetic as evaluate_grid's direct points
  const Setup setup = make_setup(base, directions);
  const Batches batches = make_batches(data, options.limit(), options.batch_size());
  Replica r = make_replica(factory, setup);
  set_point(r, setup, coords.data());
  const auto [l, a] =
      eval_replica(r, batches, loss_of(options), nullptr, coords.data(), directions.size());
  return GridPoint{0, coords.empty() ? 0.0 : coords[0], coords.size() > 1 ? coords[1] : 0.0, l, a};
}

Grid interpolate(const ModelFactory& factory, const nn::Module& a, const nn::Module& b,
                 const Axis& axis, const nn::Dataset& data, const EvalOptions& options,
                 DirectionKind kind) {
  return evaluate_grid(factory, a, {direction_between(a, b, kind)}, {axis}, data, options);
}

Grid read_grid_csv(const std::string& path) {
  const char* who = "read_grid_csv";
  std::size_t dims = 0;
  const std::vector<Row> rows = read_rows(who, path, dims, nullptr);
  Grid g;
  g.dims = dims;
  XG_CHECK(!rows.empty(), who, ": ", path, " has no rows");
  // An interrupted run's rows can look like a smaller whole grid: its metadata says otherwise.
  const std::string meta = json_path_of(path);
  if (file_exists(meta)) {
    json m;
    try {
      std::ifstream f(meta);
      f >> m;
    } catch (const std::exception&) {
      m = json();  // not our metadata: nothing to check against
    }
    if (m.is_object() && m.value("format", "") == "xgrad-landscape") {
      const json points = m.value("points", json()), done = m.value("done", json());
      XG_CHECK(m.value("complete", false) == true && points.is_number_unsigned() &&
                   points.get<std::size_t>() == rows.size(),
               who, ": ", path, " is an unfinished grid: it has ", rows.size(),
               " rows but its metadata ", meta, " says ", done.dump(), " of ", points.dump(),
               " points are done (complete: ", m.value("complete", json()).dump(),
               "); resume it with evaluate_grid (or `xgrad landscape ... --resume`)");
    }
  }
  for (std::size_t i = 0; i < rows.size(); ++i)
    XG_CHECK(rows[i].index == i, who, ": ", path, " is not a complete grid sorted by index (row ",
             i + 2, " has index ", rows[i].index, ")");
  std::size_t ny = 1;
  if (dims == 2)
    while (ny < rows.size() && rows[ny].x == rows[0].x) ++ny;
  XG_CHECK(rows.size() % ny == 0, who, ": ", path, " has ", rows.size(),
           " rows, not a whole number of grid lines of ", ny);
  for (std::size_t j = 0; j < ny; ++j) g.y.push_back(dims == 2 ? rows[j].y : 0.0);
  for (std::size_t i = 0; i < rows.size() / ny; ++i) g.x.push_back(rows[i * ny].x);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    XG_CHECK(rows[k].x == g.x[k / ny] && (dims == 1 || rows[k].y == g.y[k % ny]), who, ": ", path,
             " row index ", k, " does not lie on the grid");
    g.loss.push_back(rows[k].loss);
    g.accuracy.push_back(rows[k].acc);
  }
  g.complete = true;
  return g;
}

}  // namespace xg::viz
