// Convolution and pooling on NCHW tensors. Each op is fused (forward and backward are raw
// kernels, not a graph of small Tensor ops) for speed: conv2d lowers one sample at a time to a
// GEMM with im2col, so its backward is two GEMMs and a col2im. The backward passes are linear in
// grad_out (and conv2d's in the weight or input too), so when they are recorded (create_graph)
// they are ops of their own on the same kernels, whose derivatives are again these ops:
// differentiable any number of times.
//
// Geometry, as PyTorch (ceil_mode false): an output position o along an axis reads the input at
// o*stride - padding + k*dilation for k in [0, kernel), and the output size is
// floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "autograd/detail/impl.hpp"
#include "autograd/factory.hpp"
#include "autograd/ops.hpp"

namespace xg {

namespace {

using Pair = std::array<int64_t, 2>;  // {height, width}

// ---- arguments and geometry ----

/// "[1, 2]" for an option list (for error messages).
std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}
std::string list_str(const Pair& p) { return list_str(std::vector<int64_t>(p.begin(), p.end())); }

/// An option given as {both} or {height, width}, as PyTorch's int-or-pair arguments.
Pair pair_arg(const char* op, const char* what, const std::vector<int64_t>& v) {
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  fail(op, ": ", what, " must have 1 or 2 values (height, width), got ", list_str(v));
}

/// A sliding window over the [H, W] planes of an [N, C, H, W] input, and the output plane size.
struct Window {
  int64_t H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
  int64_t in_plane() const { return H * W; }
  int64_t out_plane() const { return Ho * Wo; }
};

/// Validates the options and computes the output plane size; throws naming op and shapes.
/// Pooling also follows PyTorch's rule that padding is at most half the kernel, so that no
/// window lies in the padding only.
Window make_window(const char* op, const Shape& input, Pair k, Pair s, Pair p, Pair d,
                   bool pooling) {
  if (k[0] <= 0 || k[1] <= 0) fail(op, ": kernel size must be positive, got ", list_str(k));
  if (s[0] <= 0 || s[1] <= 0) fail(op, ": stride must be positive, got ", list_str(s));
  if (d[0] <= 0 || d[1] <= 0) fail(op, ": dilation must be positive, got ", list_str(d));
  if (p[0] < 0 || p[1] < 0) fail(op, ": padding must be non-negative, got ", list_str(p));
  if (pooling && (p[0] > k[0] / 2 || p[1] > k[1] / 2))
    fail(op, ": padding ", list_str(p), " must be at most half of kernel size ", list_str(k));
  if (input[2] == 0 || input[3] == 0)
    fail(op, ": input of shape ", input, " has an empty [H, W] plane");
  const auto H = static_cast<int64_t>(input[2]), W = static_cast<int64_t>(input[3]);
  Window w{H, W, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], 0, 0};  // Ho, Wo below
  // The span in + 2 padding - dilation (kernel - 1) - 1 must be >= 0 for at least one output;
  // computed with overflow checks, as the options may be anything.
  auto span = [&](int64_t in, int64_t pad, int64_t dil, int64_t ker) {
    int64_t padded, reach, r;
    if (__builtin_mul_overflow(pad, int64_t{2}, &padded) ||
        __builtin_add_overflow(in, padded, &padded) ||
        __builtin_mul_overflow(dil, ker - 1, &reach) || __builtin_sub_overflow(padded, reach, &r))
      fail(op, ": input ", input, " with kernel ", list_str(k), ", stride ", list_str(s),
           ", padding ", list_str(p), " and dilation ", list_str(d),
           " gives an output size that overflows");
    return r - 1;
  };
  const int64_t span_h = span(w.H, w.ph, w.dh, w.kh);
  const int64_t span_w = span(w.W, w.pw, w.dw, w.kw);
  if (span_h < 0 || span_w < 0) {
    auto size = [](int64_t span, int64_t stride) {  // floor division, for the message
      return (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
    };
    fail(op, ": input ", input, " is too small for kernel ", list_str(k), " with stride ",
         list_str(s), ", padding ", list_str(p), " and dilation ", list_str(d),
         " (output size would be ", list_str(Pair{size(span_h, w.sh), size(span_w, w.sw)}), ")");
  }
  w.Ho = span_h / w.sh + 1;
  w.Wo = span_w / w.sw + 1;
  // The output [N, C or O, Ho, Wo] must be a shape a tensor can have.
  checked_numel(
      op, {input[0], input[1], static_cast<std::size_t>(w.Ho), static_cast<std::size_t>(w.Wo)});
  return w;
}

/// Checks a pooling input: a defined 4-D tensor.
void check_pool_input(const char* op, const Tensor& input) {
  check_floating(op, input);
  if (input.dim() != 4) fail(op, ": expected input [N, C, H, W] (4-D), got shape ", input.shape());
}

/// Output positions o in [lo, hi) along one axis whose tap o*stride - pad + offset lies in
/// [0, n); offset = k*dilation for kernel tap k.
std::pair<int64_t, int64_t> valid_range(int64_t n, int64_t out, int64_t stride, int64_t pad,
                                        int64_t offset) {
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const int64_t lo = std::clamp<int64_t>(ceil_div(pad - offset, stride), 0, out);
  const int64_t hi = std::clamp<int64_t>(ceil_div(n + pad - offset, stride), lo, out);
  return {lo, hi};
}

// ---- conv2d kernels ----

/// C [m, n] = op(A) [m, k] x op(B) [k, n] + beta C, row-major contiguous (op transposes if set).
template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T beta, T* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS would still be asked to read a and b; the product is zero
    if (beta == T(0)) std::fill_n(c, m * n, T(0));
    return;
  }
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  const blasint lda = ta ? M : K, ldb = tb ? K : N;
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, a, lda, b, ldb, beta, c, N);
  else
    cblas_dgemm(CblasRowMajor, TA, TB, M, N, K, 1.0, a, lda, b, ldb, beta, c, N);
}

/// The taps of one kernel position (i, j) that read inside the input: output rows [ylo, yhi)
/// and columns [xlo, xhi); output column ox reads input column x0 + ox * sw.
struct Taps {
  int64_t ylo, yhi, xlo, xhi, x0;
  Taps(const Window& w, int64_t i, int64_t j) : x0(j * w.dw - w.pw) {
    std::tie(ylo, yhi) = valid_range(w.H, w.Ho, w.sh, w.ph, i * w.dh);
    std::tie(xlo, xhi) = valid_range(w.W, w.Wo, w.sw, w.pw, j * w.dw);
  }
  bool empty() const { return ylo == yhi || xlo == xhi; }
  /// First input element read, in channel c's plane of x (valid unless empty()).
  template <typename T>
  T* input(T* x, const Window& w, int64_t c, int64_t i) const {
    return x + (c * w.H + ylo * w.sh - w.ph + i * w.dh) * w.W + x0 + xlo * w.sw;
  }
};

/// Stride 1 and output width == input width ("same" padding): output position l and the input
/// element it reads under a tap are a constant distance apart, so the block of a tap's cols
/// row from (ylo, xlo) to (yhi - 1, xhi - 1) is one run of the input, copied in one loop.
/// Inside the run, the columns outside [xlo, xhi) belong to the padding: masks [kw, Ho*Wo]
/// holds 1 where output column l % Wo reads inside the input under kernel column j, else 0.
/// Empty when the window is not of this kind.
template <typename T>
std::vector<T> one_run_masks(const Window& w) {
  if (w.sw != 1 || w.sh * w.W != w.Wo) return {};
  std::vector<T> masks(static_cast<std::size_t>(w.kw * w.out_plane()));
  for (int64_t j = 0; j < w.kw; ++j) {
    const Taps t(w, 0, j);
    for (int64_t oy = 0; oy < w.Ho; ++oy)
      for (int64_t ox = 0; ox < w.Wo; ++ox)
        masks[(j * w.Ho + oy) * w.Wo + ox] = ox >= t.xlo && ox < t.xhi;
  }
  return masks;
}

/// im2col of one sample: x [C, H, W] -> cols [C*kh*kw, Ho*Wo]. Row (c, i, j) holds, for every
/// output position, the input under kernel tap (i, j) of channel c (0 in the padding).
template <typename T>
void im2col(const T* x, T* cols, int64_t C, const Window& w, const std::vector<T>& masks) {
  const int64_t L = w.out_plane();
  for (int64_t i = 0; i < w.kh; ++i)
    for (int64_t j = 0; j < w.kw; ++j) {
      const Taps t(w, i, j);
      const int64_t first = t.ylo * w.Wo + t.xlo, last = (t.yhi - 1) * w.Wo + t.xhi;
      const T* inside = masks.empty() ? nullptr : masks.data() + j * L;
      for (int64_t c = 0; c < C; ++c) {
        T* dst = cols + ((c * w.kh + i) * w.kw + j) * L;
        if (t.empty()) {
          std::fill_n(dst, L, T(0));
          continue;
        }
        const T* in = t.input(x, w, c, i);
        if (inside) {
          std::fill(dst, dst + first, T(0));
          for (int64_t l = first; l < last; ++l) {
            const T v = in[l - first];  // read unconditionally: the whole run is in bounds
            dst[l] = inside[l] != T(0) ? v : T(0);
          }
          std::fill(dst + last, dst + L, T(0));
          continue;
        }
        std::fill(dst, dst + first, T(0));
        for (int64_t oy = t.ylo; oy < t.yhi; ++oy, in += w.sh * w.W) {
          T* row = dst + oy * w.Wo;
          std::fill(row, row + t.xlo, T(0));
          for (int64_t ox = t.xlo; ox < t.xhi; ++ox) row[ox] = in[(ox - t.xlo) * w.sw];
          std::fill(row + t.xhi, row + w.Wo, T(0));
        }
        std::fill(dst + t.yhi * w.Wo, dst + L, T(0));
      }
    }
}

/// col2im of one sample, the adjoint of im2col: adds cols [C*kh*kw, Ho*Wo] into gx [C, H, W].
template <typename T>
void col2im(const T* cols, T* gx, int64_t C, const Window& w, const std::vector<T>& masks) {
  const int64_t L = w.out_plane();
  for (int64_t i = 0; i < w.kh; ++i)
    for (int64_t j = 0; j < w.kw; ++j) {
      const Taps t(w, i, j);
      if (t.empty()) continue;
      const int64_t first = t.ylo * w.Wo + t.xlo, last = (t.yhi - 1) * w.Wo + t.xhi;
      const T* inside = masks.empty() ? nullptr : masks.data() + j * L;
      for (int64_t c = 0; c < C; ++c) {
        const T* src = cols + ((c * w.kh + i) * w.kw + j) * L;
        T* out = t.input(gx, w, c, i);
        if (inside) {
          for (int64_t l = first; l < last; ++l) {
            const T v = src[l];
            out[l - first] += inside[l] != T(0) ? v : T(0);
          }
          continue;
        }
        for (int64_t oy = t.ylo; oy < t.yhi; ++oy, out += w.sh * w.W) {
          const T* row = src + oy * w.Wo;
          for (int64_t ox = t.xlo; ox < t.xhi; ++ox) out[(ox - t.xlo) * w.sw] += row[ox];
        }
      }
    }
}

/// An uninitialized scratch buffer of n elements (std::vector would zero it first); a size
/// that cannot be allocated is an error naming `op`.
template <typename T>
std::unique_ptr<T[]> scratch(const char* op, int64_t n) {
  const std::size_t count = checked_numel(op, {static_cast<std::size_t>(n)});
  try {
    return std::unique_ptr<T[]>(new T[count]);
  } catch (const std::bad_alloc&) {
    fail(op, ": cannot allocate ", count * sizeof(T), " bytes of scratch space");
  }
}

/// Kernel taps [lo, hi) of one window along an axis: those whose position first + i * dil lies
/// in [0, n) (so a huge kernel costs only the taps that hit the input).
std::pair<int64_t, int64_t> taps_inside(int64_t first, int64_t dil, int64_t kernel, int64_t n) {
  const int64_t lo = first >= 0 ? 0 : (-first - 1) / dil + 1;  // ceil(-first / dil)
  const int64_t hi = first >= n ? 0 : std::min(kernel, (n - 1 - first) / dil + 1);
  return {std::min(lo, kernel), std::max(hi, std::min(lo, kernel))};
}

/// Sum of n values with 8 independent accumulators (one would make the adds latency-bound).
template <typename T>
T row_sum(const T* p, int64_t n) {
  T acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  T s = 0;
  for (; i < n; ++i) s += p[i];
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

// ---- two cores for conv2d's sample loops ----

/// One helper thread that runs a task while the caller runs another (conv2d splits its batch
/// in two halves). Started on first use; idle, it waits on a condition variable. One caller at
/// a time: another thread that finds it busy runs its whole loop itself.
class Helper {
 public:
  static Helper& get() {
    static Helper h;
    return h;
  }
  /// Runs `there` on the helper thread and `here` on this one, and returns when both are done;
  /// false (having run nothing) when another caller holds the helper.
  bool try_run(const std::function<void()>& there, const std::function<void()>& here) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> l(m_);
      task_ = &there;
    }
    wake_.notify_one();
    std::exception_ptr error;
    try {
      here();
    } catch (...) {
      error = std::current_exception();
    }
    std::unique_lock<std::mutex> l(m_);
    done_.wait(l, [&] { return task_ == nullptr; });  // `there` may use this frame's data
    if (error) std::rethrow_exception(error);
    return true;
  }
  ~Helper() {
    {
      std::lock_guard<std::mutex> l(m_);
      quit_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  Helper() : thread_([this] { loop(); }) {}
  void loop() {
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      wake_.wait(l, [&] { return quit_ || task_ != nullptr; });
      if (quit_) return;
      l.unlock();
      (*task_)();  // conv2d's kernels do not throw (their buffers are allocated before)
      l.lock();
      task_ = nullptr;
      done_.notify_one();
    }
  }
  std::mutex busy_, m_;
  std::condition_variable wake_, done_;
  const std::function<void()>* task_ = nullptr;
  bool quit_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

/// Runs body(begin, end, part) over samples [0, n): as [0, n/2) here (part 0) and [n/2, n) on
/// the helper thread (part 1) when there are two samples or more, `macs` multiply-adds of work
/// (enough to pay for the hand-over, some microseconds) and two cores, unless the environment
/// sets XGRAD_NUM_THREADS=1 (then both halves run here, in order); small work runs as
/// body(0, n, 0). Returns the number of parts used.
int split_samples(int64_t n, double macs, const std::function<void(int64_t, int64_t, int)>& body) {
  static const bool two = [] {
    const char* e = std::getenv("XGRAD_NUM_THREADS");
    return std::thread::hardware_concurrency() >= 2 && !(e && std::string(e) == "1");
  }();
  if (n < 2 || macs < double(1 << 20)) {
    body(0, n, 0);
    return 1;
  }
  // The same two halves whoever runs them (helper busy, one core, XGRAD_NUM_THREADS=1), so the
  // partial sums, and the results, are bit-identical in every case.
  const int64_t mid = n / 2;
  const std::function<void()> there = [&] { body(mid, n, 1); };
  if (!two || !Helper::get().try_run(there, [&] { body(0, mid, 0); })) {
    body(0, mid, 0);
    body(mid, n, 1);
  }
  return 2;
}

// ---- pooling kernels (one [H, W] plane -> one [Ho, Wo] plane) ----

/// Max over each window; arg[o] = the plane offset y*W + x of the maximum (first of ties, NaN
/// wins as in PyTorch). Padding acts as -inf and never wins; a window whose dilated taps all
/// miss the input gives -inf and arg -1 (no gradient), as PyTorch.
template <typename T>
void max_pool_plane(const T* x, T* out, int64_t* arg, const Window& w) {
  for (int64_t oy = 0; oy < w.Ho; ++oy)
    for (int64_t ox = 0; ox < w.Wo; ++ox) {
      T best = -std::numeric_limits<T>::infinity();
      int64_t at = -1;
      const auto [ilo, ihi] = taps_inside(oy * w.sh - w.ph, w.dh, w.kh, w.H);
      const auto [jlo, jhi] = taps_inside(ox * w.sw - w.pw, w.dw, w.kw, w.W);
      for (int64_t i = ilo; i < ihi; ++i) {
        const int64_t y = oy * w.sh - w.ph + i * w.dh;
        if (y < 0 || y >= w.H) continue;
        for (int64_t j = jlo; j < jhi; ++j) {
          const int64_t xx = ox * w.sw - w.pw + j * w.dw;
          if (xx < 0 || xx >= w.W) continue;
          const T v = x[y * w.W + xx];
          if (at < 0 || v > best || std::isnan(v)) best = v, at = y * w.W + xx;
        }
      }
      out[oy * w.Wo + ox] = best;
      if (arg) arg[oy * w.Wo + ox] = at;
    }
}

/// Outputs [0, n) of one output row of a 2x2, stride 2 max pool: input rows r0 (top) and r1
/// (bottom), arguments (if kArg) relative to `base` (the plane offset of r0) with plane width
/// W. The same values, arguments, tie and NaN rules as max_pool_plane, written with selects
/// only, so that the loop vectorizes.
template <bool kArg, typename T>
inline void max_pool_row_2x2(const T* __restrict r0, const T* __restrict r1, T* __restrict o,
                             int64_t* __restrict a, int64_t n, int64_t base, int64_t W) {
  for (int64_t ox = 0; ox < n; ++ox) {
    const T v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
    T best = v0;
    int64_t at = 0;
    // taps in the order (0,1) (1,0) (1,1): taken if larger than the best so far, or NaN
    const bool t1 = (v1 > best) | (v1 != v1);
    best = t1 ? v1 : best;
    at = t1 ? 1 : at;
    const bool t2 = (v2 > best) | (v2 != v2);
    best = t2 ? v2 : best;
    at = t2 ? W : at;
    const bool t3 = (v3 > best) | (v3 != v3);
    best = t3 ? v3 : best;
    at = t3 ? W + 1 : at;
    o[ox] = best;
    if constexpr (kArg) a[ox] = base + 2 * ox + at;
  }
}

/// max_pool2d's forward for the 2x2 window with stride 2 (no padding, no dilation) over all
/// `planes` planes. Each output row runs as a whole number of 8-wide vectors: the extra outputs
/// land in the next rows, which are written after, and a row whose rounded-up reads or writes
/// would leave the buffers runs exactly. (Rows are short, 14 or 7 here: a vector loop plus a
/// scalar tail per row would be mostly tail.)
template <typename T>
void max_pool_2x2(const T* x, T* out, int64_t* arg, int64_t planes, const Window& w) {
  constexpr int64_t V = 8;
  const int64_t Wr = (w.Wo + V - 1) / V * V;  // outputs computed per row
  const int64_t in_total = planes * w.in_plane(), out_total = planes * w.out_plane();
  for (int64_t q = 0; q < planes; ++q)
    for (int64_t oy = 0; oy < w.Ho; ++oy) {
      const int64_t in_at = q * w.in_plane() + 2 * oy * w.W, out_at = q * w.out_plane() + oy * w.Wo;
      const bool room = in_at + w.W + 2 * Wr <= in_total && out_at + Wr <= out_total;
      const int64_t n = room ? Wr : w.Wo;
      if (arg)
        max_pool_row_2x2<true>(x + in_at, x + in_at + w.W, out + out_at, arg + out_at, n,
                               2 * oy * w.W, w.W);
      else
        max_pool_row_2x2<false>(x + in_at, x + in_at + w.W, out + out_at, nullptr, n, 2 * oy * w.W,
                                w.W);
    }
}

/// The adjoint of one output row of max_pool_2x2 when the windows tile the plane: writes input
/// row `r` (r0 of that row, 2n values) from grad_out g [n] and arguments a [n], each input
/// getting its window's gradient if it was the maximum, else 0. `pos` is the plane offset of
/// r's first element.
template <typename T>
inline void max_pool_row_2x2_backward(const T* __restrict g, const int64_t* __restrict a,
                                      T* __restrict r, int64_t n, int64_t pos) {
  for (int64_t ox = 0; ox < n; ++ox) {
    const T v = g[ox];
    r[2 * ox] = a[ox] == pos + 2 * ox ? v : T(0);
    r[2 * ox + 1] = a[ox] == pos + 2 * ox + 1 ? v : T(0);
  }
}

/// True for the 2x2 window with stride 2, no padding and no dilation (max_pool_2x2).
bool is_2x2_stride_2(const Window& w) {
  return w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.ph == 0 && w.pw == 0 && w.dh == 1 &&
         w.dw == 1;
}

/// Sum over each window's inputs (padding counts as zeros), times `scale`.
template <typename T>
void sum_pool_plane(const T* x, T* out, T scale, const Window& w) {
  for (int64_t oy = 0; oy < w.Ho; ++oy)
    for (int64_t ox = 0; ox < w.Wo; ++ox) {
      T acc = 0;
      const auto [ilo, ihi] = taps_inside(oy * w.sh - w.ph, w.dh, w.kh, w.H);
      const auto [jlo, jhi] = taps_inside(ox * w.sw - w.pw, w.dw, w.kw, w.W);
      for (int64_t i = ilo; i < ihi; ++i) {
        const int64_t y = oy * w.sh - w.ph + i * w.dh;
        if (y < 0 || y >= w.H) continue;
        for (int64_t j = jlo; j < jhi; ++j) {
          const int64_t xx = ox * w.sw - w.pw + j * w.dw;
          if (xx >= 0 && xx < w.W) acc += x[y * w.W + xx];
        }
      }
      out[oy * w.Wo + ox] = acc * scale;
    }
}

/// The adjoint of sum_pool_plane: adds g[o] * scale to every input of window o.
template <typename T>
void sum_pool_plane_backward(const T* g, T* gx, T scale, const Window& w) {
  for (int64_t oy = 0; oy < w.Ho; ++oy)
    for (int64_t ox = 0; ox < w.Wo; ++ox) {
      const T v = g[oy * w.Wo + ox] * scale;
      const auto [ilo, ihi] = taps_inside(oy * w.sh - w.ph, w.dh, w.kh, w.H);
      const auto [jlo, jhi] = taps_inside(ox * w.sw - w.pw, w.dw, w.kw, w.W);
      for (int64_t i = ilo; i < ihi; ++i) {
        const int64_t y = oy * w.sh - w.ph + i * w.dh;
        if (y < 0 || y >= w.H) continue;
        for (int64_t j = jlo; j < jhi; ++j) {
          const int64_t xx = ox * w.sw - w.pw + j * w.dw;
          if (xx >= 0 && xx < w.W) gx[y * w.W + xx] += v;
        }
      }
    }
}

// ---- conv2d's backward as ops ----

/// What conv2d's backward needs besides tensors: the window, both shapes and groups.
struct ConvGeom {
  Window w;
  Shape xs, ws;  // input [N, C, H, W], weight [O, C / groups, kh, kw]
  int64_t groups;
};

/// conv2d's backward kernels, each result only if asked: grad_input [N, C, H, W] from grad_out g
/// [N, O, Ho, Wo] and weight wt, grad_weight [O, C / groups, kh, kw] from input x and g,
/// grad_bias [O] from g. One pass over the samples, split over two cores as forward (the same
/// halves whichever results are asked, so each is bit-identical either way).
TensorList conv2d_backward_kernels(const Tensor& g, const Tensor& x, const Tensor& wt, bool need_x,
                                   bool need_w, bool need_b, const ConvGeom& cg) {
  const Window& w = cg.w;
  const int64_t groups = cg.groups;
  const auto N = static_cast<int64_t>(cg.xs[0]), C = static_cast<int64_t>(cg.xs[1]);
  const auto O = static_cast<int64_t>(cg.ws[0]), Og = O / groups;
  const int64_t CK = C * w.kh * w.kw, CKg = CK / groups, L = w.out_plane();
  TensorList r(3);
  if (need_x) r[0] = zeros(cg.xs, g.dtype());
  if (need_w) r[1] = zeros(cg.ws, g.dtype());
  if (need_b) r[2] = zeros({cg.ws[0]}, g.dtype());
  // Part 1 of the batch split accumulates grad_weight and grad_bias into its own buffers, added
  // to part 0's at the end.
  const double macs = double(N) * double(O) * double(L) * double(CKg);
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t CKL = need_x || need_w ? CK * L : 0;
    auto cols = scratch<T>("conv2d", CKL * (N >= 2 ? 2 : 1));
    std::vector<T> part1_w(need_w && N >= 2 ? O * CKg : 0), part1_b(need_b && N >= 2 ? O : 0);
    const std::vector<T> masks = one_run_masks<T>(w);
    const T* go = g.impl()->data<T>();
    const T* xd = need_w ? x.impl()->data<T>() : nullptr;
    const T* wd = need_x ? wt.impl()->data<T>() : nullptr;
    T* gx = need_x ? r[0].impl()->data<T>() : nullptr;
    const int parts = split_samples(N, macs, [&](int64_t begin, int64_t end, int part) {
      T* c = cols.get() + part * CKL;
      T* gw = !need_w ? nullptr : part ? part1_w.data() : r[1].impl()->data<T>();
      T* gb = !need_b ? nullptr : part ? part1_b.data() : r[2].impl()->data<T>();
      for (int64_t n = begin; n < end; ++n) {
        const T* gn = go + n * O * L;  // grad_out[n] [O, L]
        if (gb)                        // grad_bias [O] += grad_out[n] [O, L] summed over L
          for (int64_t o = 0; o < O; ++o) gb[o] += row_sum(gn + o * L, L);
        if (gw) {
          // per group: grad_weight [Og, CKg] += grad_out[n] [Og, L] x cols^T [L, CKg]
          im2col(xd + n * C * w.in_plane(), c, C, w, masks);
          for (int64_t q = 0; q < groups; ++q)
            gemm<T>(false, true, Og, CKg, L, gn + q * Og * L, c + q * CKg * L, T(1),
                    gw + q * Og * CKg);
        }
        if (gx) {
          // per group: dcols [CKg, L] = weight^T [CKg, Og] x grad_out[n] [Og, L] (reusing
          // cols); col2im adds it into grad_input[n] [C, H, W]
          for (int64_t q = 0; q < groups; ++q)
            gemm<T>(true, false, CKg, L, Og, wd + q * Og * CKg, gn + q * Og * L, T(0),
                    c + q * CKg * L);
          col2im(c, gx + n * C * w.in_plane(), C, w, masks);
        }
      }
    });
    if (parts == 2) {
      if (need_w) {
        T* gw = r[1].impl()->data<T>();
        for (std::size_t i = 0; i < part1_w.size(); ++i) gw[i] += part1_w[i];
      }
      if (need_b) {
        T* gb = r[2].impl()->data<T>();
        for (std::size_t i = 0; i < part1_b.size(); ++i) gb[i] += part1_b[i];
      }
    }
  });
  return r;
}

/// conv2d(x, weight) without bias, with cg's stride, padding, dilation and groups.
Tensor conv2d_like(const Tensor& x, const Tensor& weight, const ConvGeom& cg) {
  const Window& w = cg.w;
  return conv2d(x, weight, Tensor(), {w.sh, w.sw}, {w.ph, w.pw}, {w.dh, w.dw}, cg.groups);
}

Tensor conv2d_weight_grad(const Tensor& x, const Tensor& g, const ConvGeom& cg);

/// grad_input [N, C, H, W] of conv2d from grad_out g [N, O, Ho, Wo] and weight, recorded: it is
/// linear in each, d<gg, out>/dg = conv2d(gg, weight) and d<gg, out>/dweight =
/// conv2d_weight_grad(gg, g).
Tensor conv2d_input_grad(const Tensor& g, const Tensor& weight, const ConvGeom& cg) {
  Tensor out = conv2d_backward_kernels(g, Tensor(), weight, true, false, false, cg)[0];
  if (needs_grad({&g, &weight}))
    record("conv2d_input_grad", out, {g, weight},
           [sg = SavedTensor(weight.requires_grad() ? g : Tensor()),
            sw = SavedTensor(g.requires_grad() ? weight : Tensor()),
            cg](const Tensor& gg, Node& node) {
             TensorList r(2);
             if (node.needs_grad(0)) r[0] = conv2d_like(gg, sw.unpack(node), cg);
             if (node.needs_grad(1)) r[1] = conv2d_weight_grad(gg, sg.unpack(node), cg);
             return r;
           });
  return out;
}

/// grad_weight [O, C / groups, kh, kw] of conv2d from input x [N, C, H, W] and grad_out g
/// [N, O, Ho, Wo], recorded: it is linear in each, d<gg, out>/dx = conv2d_input_grad(g, gg) and
/// d<gg, out>/dg = conv2d(x, gg).
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& g, const ConvGeom& cg) {
  Tensor out = conv2d_backward_kernels(g, x, Tensor(), false, true, false, cg)[1];
  if (needs_grad({&x, &g}))
    record("conv2d_weight_grad", out, {x, g},
           [sx = SavedTensor(g.requires_grad() ? x : Tensor()),
            sg = SavedTensor(x.requires_grad() ? g : Tensor()), cg](const Tensor& gg, Node& node) {
             TensorList r(2);
             if (node.needs_grad(0)) r[0] = conv2d_input_grad(sg.unpack(node), gg, cg);
             if (node.needs_grad(1)) r[1] = conv2d_like(sx.unpack(node), gg, cg);
             return r;
           });
  return out;
}

// ---- pooling's backward as ops ----

/// max_pool2d's backward: grad_out g [N, C, Ho, Wo] added into grad_input [N, C, H, W] at the
/// positions of the maxima. Recorded: its derivative is max_pool2d_gather at the same positions.
Tensor max_pool2d_scatter(const Tensor& g, const std::shared_ptr<int64_t[]>& argmax,
                          const Shape& xs, const Window& w);

/// gg [N, C, H, W] read at the positions of the maxima -> [N, C, Ho, Wo] (0 for a window
/// without one): the adjoint of max_pool2d_scatter, recorded with it as its derivative.
Tensor max_pool2d_gather(const Tensor& gg, const std::shared_ptr<int64_t[]>& argmax,
                         const Shape& xs, const Window& w) {
  const int64_t planes = static_cast<int64_t>(xs[0] * xs[1]), L = w.out_plane();
  Tensor out = empty({xs[0], xs[1], static_cast<std::size_t>(w.Ho), static_cast<std::size_t>(w.Wo)},
                     gg.dtype());
  dispatch(gg.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = gg.impl()->data<T>();
    T* y = out.impl()->data<T>();
    for (int64_t q = 0; q < planes; ++q)
      for (int64_t o = 0; o < L; ++o) {
        const int64_t a = argmax[q * L + o];
        y[q * L + o] = a >= 0 ? src[q * w.in_plane() + a] : T(0);
      }
  });
  if (needs_grad({&gg}))
    record("max_pool2d_gather", out, {gg}, [argmax, xs, w](const Tensor& g, Node&) {
      return TensorList{max_pool2d_scatter(g, argmax, xs, w)};
    });
  return out;
}

Tensor max_pool2d_scatter(const Tensor& g, const std::shared_ptr<int64_t[]>& argmax,
                          const Shape& xs, const Window& w) {
  const int64_t planes = static_cast<int64_t>(xs[0] * xs[1]), L = w.out_plane();
  // Disjoint 2x2 windows that tile the plane write every input once (no zero fill first).
  const bool tiled = is_2x2_stride_2(w) && w.H % 2 == 0 && w.W % 2 == 0;
  Tensor out = tiled ? empty(xs, g.dtype()) : zeros(xs, g.dtype());
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* go = g.impl()->data<T>();
    T* gx = out.impl()->data<T>();
    if (tiled) {
      // as max_pool_2x2: rows rounded up to whole vectors where the buffers have room (the top
      // row's extra writes land in the bottom row, written next; the bottom row's in the next
      // window row)
      const int64_t Wr = (w.Wo + 7) / 8 * 8, in_total = planes * w.in_plane();
      const int64_t out_total = planes * L;
      for (int64_t q = 0; q < planes; ++q)
        for (int64_t oy = 0; oy < w.Ho; ++oy) {
          const int64_t out_at = q * L + oy * w.Wo, in_at = q * w.in_plane() + 2 * oy * w.W;
          const bool room = in_at + w.W + 2 * Wr <= in_total && out_at + Wr <= out_total;
          const int64_t n = room ? Wr : w.Wo;
          max_pool_row_2x2_backward(go + out_at, argmax.get() + out_at, gx + in_at, n,
                                    2 * oy * w.W);
          max_pool_row_2x2_backward(go + out_at, argmax.get() + out_at, gx + in_at + w.W, n,
                                    (2 * oy + 1) * w.W);
        }
      return;
    }
    for (int64_t q = 0; q < planes; ++q)
      for (int64_t o = 0; o < L; ++o)
        if (const int64_t a = argmax[q * L + o]; a >= 0) gx[q * w.in_plane() + a] += go[q * L + o];
  });
  if (needs_grad({&g}))
    record("max_pool2d_backward", out, {g}, [argmax, xs, w](const Tensor& gg, Node&) {
      return TensorList{max_pool2d_gather(gg, argmax, xs, w)};
    });
  return out;
}

Tensor avg_pool2d_adjoint(const Tensor& g, const Shape& xs, const Window& w, double scale);

/// avg_pool2d on a checked window: x [N, C, H, W] -> window sums times `scale` [N, C, Ho, Wo].
/// Recorded; its derivative is avg_pool2d_adjoint.
Tensor avg_pool2d_window(const Tensor& x, const Window& w, double scale) {
  const Shape& xs = x.shape();
  const int64_t planes = static_cast<int64_t>(xs[0] * xs[1]), L = w.out_plane();
  Tensor out = empty({xs[0], xs[1], static_cast<std::size_t>(w.Ho), static_cast<std::size_t>(w.Wo)},
                     x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xd = x.impl()->data<T>();
    T* y = out.impl()->data<T>();
    for (int64_t q = 0; q < planes; ++q)
      sum_pool_plane(xd + q * w.in_plane(), y + q * L, static_cast<T>(scale), w);
  });
  if (needs_grad({&x}))
    record("avg_pool2d", out, {x}, [xs, w, scale](const Tensor& g, Node&) {
      return TensorList{avg_pool2d_adjoint(g, xs, w, scale)};
    });
  return out;
}

/// avg_pool2d's backward: grad_out g [N, C, Ho, Wo] spread evenly over each window -> grad_input
/// [N, C, H, W]. Linear in g, recorded; its derivative is avg_pool2d itself.
Tensor avg_pool2d_adjoint(const Tensor& g, const Shape& xs, const Window& w, double scale) {
  const int64_t planes = static_cast<int64_t>(xs[0] * xs[1]), L = w.out_plane();
  Tensor out = zeros(xs, g.dtype());
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* go = g.impl()->data<T>();
    T* gx = out.impl()->data<T>();
    for (int64_t q = 0; q < planes; ++q)
      sum_pool_plane_backward(go + q * L, gx + q * w.in_plane(), static_cast<T>(scale), w);
  });
  if (needs_grad({&g}))
    record("avg_pool2d_backward", out, {g}, [w, scale](const Tensor& gg, Node&) {
      return TensorList{avg_pool2d_window(gg, w, scale)};
    });
  return out;
}
}  // namespace

// ---- conv2d ----
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              std::vector<int64_t> stride, std::vector<int64_t> padding,
              std::vector<int64_t> dilation, int64_t groups) {
  check_defined("conv2d", input);
  check_defined("conv2d", weight);
  const Shape& xs = input.shape();
  const Shape& ws = weight.shape();
  if (input.dim() != 4) fail("conv2d: expected input [N, C, H, W] (4-D), got shape ", xs);
  if (weight.dim() != 4)
    fail("conv2d: expected weight [O, C / groups, kh, kw] (4-D), got shape ", ws);
  check_same_dtype("conv2d", input, weight);
  check_floating("conv2d", input);
  if (groups <= 0) fail("conv2d: groups must be positive, got ", groups);
  const auto G = static_cast<std::size_t>(groups);
  if (ws[0] % G != 0)
    fail("conv2d: weight of shape ", ws, " has ", ws[0],
         " output channels, not divisible by groups ", groups);
  if (groups == 1 && xs[1] != ws[1])
    fail("conv2d: input of shape ", xs, " has ", xs[1], " channels but weight of shape ", ws,
         " expects ", ws[1]);
  if (groups > 1 && (xs[1] % G != 0 || xs[1] / G != ws[1]))
    fail("conv2d: input of shape ", xs, " has ", xs[1], " channels but weight of shape ", ws,
         " with groups ", groups, " expects ", ws[1], " per group (", ws[1], " x ", groups, ")");
  if (bias.defined()) {
    check_same_dtype("conv2d", input, bias);
    if (bias.shape() != Shape{ws[0]})
      fail("conv2d: bias of shape ", bias.shape(), " does not match weight of shape ", ws,
           " (expected [", ws[0], "])");
  }
  if (ws[2] == 0 || ws[3] == 0) fail("conv2d: weight of shape ", ws, " has an empty kernel");
  const Window w =
      make_window("conv2d", xs, {static_cast<int64_t>(ws[2]), static_cast<int64_t>(ws[3])},
                  pair_arg("conv2d", "stride", stride), pair_arg("conv2d", "padding", padding),
                  pair_arg("conv2d", "dilation", dilation), false);
  const auto N = static_cast<int64_t>(xs[0]), C = static_cast<int64_t>(xs[1]);
  const auto O = static_cast<int64_t>(ws[0]), Og = O / groups;
  const auto CK = static_cast<int64_t>(checked_numel("conv2d", {xs[1], ws[2], ws[3]}));
  const int64_t CKg = CK / groups, L = w.out_plane();

  // One sample at a time, so cols stays small; group g reads rows [g CKg, (g + 1) CKg) of cols
  // and writes output channels [g Og, (g + 1) Og). The batch is split over two cores (each
  // half with its own cols).
  Tensor out = empty({xs[0], ws[0], static_cast<std::size_t>(w.Ho), static_cast<std::size_t>(w.Wo)},
                     input.dtype());
  const double macs = double(N) * double(O) * double(L) * double(CKg);
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.impl()->data<T>();
    const T* wt = weight.impl()->data<T>();
    const T* bs = bias.defined() ? bias.impl()->data<T>() : nullptr;
    T* y = out.impl()->data<T>();
    const int64_t CKL = checked_mul("conv2d", CK, L);
    auto cols = scratch<T>("conv2d", checked_mul("conv2d", CKL, N >= 2 ? 2 : 1));
    const std::vector<T> masks = one_run_masks<T>(w);
    split_samples(N, macs, [&](int64_t begin, int64_t end, int part) {
      T* c = cols.get() + part * CKL;
      for (int64_t n = begin; n < end; ++n) {
        T* yn = y + n * O * L;
        // cols [CK, L] = im2col(x[n]);
        // out[n][group g] [Og, L] = weight[group g] [Og, CKg] x cols[group g] [CKg, L] (+ bias)
        im2col(x + n * C * w.in_plane(), c, C, w, masks);
        for (int64_t g = 0; g < groups; ++g)
          gemm<T>(false, false, Og, L, CKg, wt + g * Og * CKg, c + g * CKg * L, T(0),
                  yn + g * Og * L);
        if (bs)
          for (int64_t o = 0; o < O; ++o)
            for (int64_t l = 0; l < L; ++l) yn[o * L + l] += bs[o];
      }
    });
  });

  if (needs_grad({&input, &weight, &bias}))
    record("conv2d", out, {input, weight, bias},
           // Saves only what backward reads: the input for grad_weight, the weight for grad_input.
           [sx = SavedTensor(weight.requires_grad() ? input : Tensor()),
            sw = SavedTensor(input.requires_grad() ? weight : Tensor()),
            cg = ConvGeom{w, xs, ws, groups}](const Tensor& g, Node& node) {
             const bool need_x = node.needs_grad(0), need_w = node.needs_grad(1),
                        need_b = node.needs_grad(2);
             const Tensor x = need_w ? sx.unpack(node) : Tensor();
             const Tensor wt = need_x ? sw.unpack(node) : Tensor();
             if (!needs_grad({&g, &x, &wt}))  // not recorded: all three in one pass
               return conv2d_backward_kernels(g, x, wt, need_x, need_w, need_b, cg);
             // Recording the backward pass (create_graph): the same kernels as recorded ops.
             TensorList r(3);
             if (need_x) r[0] = conv2d_input_grad(g, wt, cg);
             if (need_w) r[1] = conv2d_weight_grad(x, g, cg);
             if (need_b) r[2] = sum(g, {0, 2, 3});
             return r;
           });
  return out;
}

// ---- max_pool2d ----
Tensor max_pool2d(const Tensor& input, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride, std::vector<int64_t> padding,
                  std::vector<int64_t> dilation) {
  check_pool_input("max_pool2d", input);
  const Pair k = pair_arg("max_pool2d", "kernel_size", kernel_size);
  const Pair s = stride.empty() ? k : pair_arg("max_pool2d", "stride", stride);
  const Pair p = pair_arg("max_pool2d", "padding", padding);
  const Window w = make_window("max_pool2d", input.shape(), k, s, p,
                               pair_arg("max_pool2d", "dilation", dilation), true);
  const Shape& xs = input.shape();
  const int64_t planes = static_cast<int64_t>(xs[0] * xs[1]), L = w.out_plane();
  const bool grad = needs_grad({&input});

  // out [N, C, Ho, Wo]; argmax [N*C*Ho*Wo] = where in its input plane each maximum came from
  Tensor out = empty({xs[0], xs[1], static_cast<std::size_t>(w.Ho), static_cast<std::size_t>(w.Wo)},
                     input.dtype());
  // (not zero-filled: both kernels write every element)
  std::shared_ptr<int64_t[]> argmax(grad ? new int64_t[static_cast<std::size_t>(planes * L)]
                                         : nullptr);
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.impl()->data<T>();
    T* y = out.impl()->data<T>();
    if (is_2x2_stride_2(w)) {
      max_pool_2x2(x, y, argmax.get(), planes, w);
      return;
    }
    for (int64_t q = 0; q < planes; ++q)
      max_pool_plane(x + q * w.in_plane(), y + q * L, grad ? argmax.get() + q * L : nullptr, w);
  });

  if (grad)
    record("max_pool2d", out, {input}, [argmax, xs, w](const Tensor& g, Node&) {
      return TensorList{max_pool2d_scatter(g, argmax, xs, w)};
    });
  return out;
}

// ---- avg_pool2d ----
Tensor avg_pool2d(const Tensor& input, std::vector<int64_t> kernel_size,
                  std::vector<int64_t> stride, std::vector<int64_t> padding) {
  check_pool_input("avg_pool2d", input);
  const Pair k = pair_arg("avg_pool2d", "kernel_size", kernel_size);
  const Pair s = stride.empty() ? k : pair_arg("avg_pool2d", "stride", stride);
  const Pair p = pair_arg("avg_pool2d", "padding", padding);
  const Window w = make_window("avg_pool2d", input.shape(), k, s, p, {1, 1}, true);
  // count_include_pad: every window divides by kh*kw. With ceil_mode false no window reaches
  // past the padding, so this is exactly PyTorch's divisor.
  return avg_pool2d_window(input, w, 1.0 / (static_cast<double>(w.kh) * static_cast<double>(w.kw)));
}

}  // namespace xg
