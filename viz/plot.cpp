// Pictures with PLplot's C++ binding (cairo devices), VTK surfaces and metrics CSV reading.
// See plot.hpp. Layout: page handling (format, temporary file, error capture, lock), colours,
// helpers, then one section per public function.
#include "viz/plot.hpp"

#include <fcntl.h>
#include <plstream.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "autograd/extend.hpp"

namespace xg::viz {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- files

/// `s` in double quotes (paths and names in messages).
std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

[[noreturn]] void io_fail(const std::string& msg) { throw std::runtime_error(msg); }

/// (folder, file name) of a path; the folder is "." for a bare name.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

/// The lower-case extension of the file name in `path` ("" when there is none).
std::string extension(const std::string& path) {
  const std::string base = split_path(path).second;
  const auto dot = base.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return "";
  std::string ext = base.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

/// A file written atomically: a temporary file in the target's folder, renamed over the target
/// by commit(); destroyed without commit() (an error), the temporary file is removed.
class AtomicFile {
 public:
  AtomicFile(const char* fn, const std::string& path) : fn_(fn), path_(path) {
    XG_CHECK(!path.empty(), fn, ": the path is empty");
    const auto [dir, base] = split_path(path);
    XG_CHECK(!base.empty() && base != "." && base != "..", fn, ": the path ", in_quotes(path),
             " names a folder, not a file");
    static std::atomic<unsigned long> counter{0};
    const auto ticks = static_cast<unsigned long long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    for (unsigned attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      std::ostringstream os;
      os << dir << "/." << base << ".tmp-" << ::getpid() << "-" << counter++ << "-" << std::hex
         << ticks;
      tmp_ = os.str();
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST)
        io_fail(std::string(fn) + ": cannot write " + in_quotes(path) + ": " +
                std::strerror(errno));
    }
    if (fd_ < 0)
      io_fail(std::string(fn) + ": cannot find a temporary file name for " + in_quotes(path));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  /// A stdio stream on a duplicate of the file descriptor; whoever gets it closes it (PLplot
  /// closes the stream it is given when the page ends).
  FILE* stream() {
    const int dup = ::dup(fd_);
    FILE* f = dup >= 0 ? ::fdopen(dup, "wb") : nullptr;
    if (!f) {
      if (dup >= 0) ::close(dup);
      io_fail(fn_ + ": cannot open a stream on the temporary file of " + in_quotes(path_) + ": " +
              std::strerror(errno));
    }
    return f;
  }
  /// Size of what was written so far.
  long long size() const {
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    return static_cast<long long>(end);
  }
  /// Syncs the data and renames the temporary file over the target.
  void commit() {
    if (size() <= 0) io_fail(fn_ + ": nothing was written to " + in_quotes(path_));
    if (::fsync(fd_) != 0)
      io_fail(fn_ + ": cannot write " + in_quotes(path_) + ": " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
      io_fail(fn_ + ": cannot write " + in_quotes(path_) +
              " (rename of the temporary file failed: " + std::strerror(errno) + ")");
    committed_ = true;
  }

 private:
  std::string fn_, path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// ---------------------------------------------------------------- PLplot pages

/// One lock for every PLplot call (PLplot keeps global state and is not thread-safe).
std::mutex& plplot_mutex() {
  static std::mutex m;
  return m;
}

/// PLplot's exit handler: its fatal errors call exit() after this handler returns, so the
/// handler throws instead (PLplot's C code is built with unwind tables on Debian).
int plplot_exit_handler(const char* msg) {
  throw std::runtime_error(std::string("PLplot error: ") + (msg ? msg : "(no message)"));
}

/// Non-fatal errors are recorded through plsError (the stream's error code and message) and
/// reported after the page ends; this handler only keeps PLplot from printing.
void plplot_abort_handler(const char*) {}

/// The PLplot device for a path's extension, or a clear error.
const char* device_for(const char* fn, const std::string& path) {
  XG_CHECK(!path.empty(), fn, ": the path is empty");
  const std::string base = split_path(path).second;
  XG_CHECK(!base.empty() && base != "." && base != "..", fn, ": the path ", in_quotes(path),
           " names a folder, not a file");
  const std::string ext = extension(path);
  if (ext == "png") return "pngcairo";
  if (ext == "svg") return "svgcairo";
  if (ext == "pdf") return "pdfcairo";
  fail(fn, ": cannot tell the picture format of ", in_quotes(path),
       ext.empty() ? std::string(" (no extension)") : " (extension ." + ext + ")",
       "; use .png, .svg or .pdf");
}

/// Fails unless PLplot has the device (plplot-driver-cairo installed); PLplot itself would
/// prompt for another device on stdin.
void check_device(const char* fn, const char* dev) {
  static const std::vector<std::string> devices = [] {
    std::vector<const char*> menu(256), names(256);
    int n = static_cast<int>(names.size());
    const char** menu_ptr = menu.data();
    const char** names_ptr = names.data();
    plgDevs(&menu_ptr, &names_ptr, &n);
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.emplace_back(names[i]);
    return out;
  }();
  if (std::find(devices.begin(), devices.end(), dev) == devices.end())
    io_fail(std::string(fn) + ": PLplot has no " + dev +
            " device (install the Debian package plplot-driver-cairo)");
}

// Colour map 0 entries (the line colours): PLplot uses 0 as the background and we keep fixed
// roles for the first few; series colours start at kFirstSeriesColor.
constexpr int kWhite = 0, kBlack = 1, kGrid = 2, kDarkGrey = 3, kTrajectory = 4, kMasked = 5;
constexpr int kFirstSeriesColor = 16;

struct Rgb {
  int r, g, b;
};
/// matplotlib's tab10 palette (the default line colours PyTorch users know).
const Rgb kTab10[10] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                        {188, 189, 34},  {23, 190, 207}};

/// Viridis (perceptually uniform, colour-blind friendly), sampled at 9 evenly spaced points.
const Rgb kViridis[9] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                         {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
                         {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};

/// "#rrggbb" -> Rgb, or a clear error.
Rgb parse_color(const char* fn, const std::string& name, const std::string& c) {
  auto hex = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  bool ok = c.size() == 7 && c[0] == '#';
  for (std::size_t i = 1; ok && i < 7; ++i) ok = hex(c[i]) >= 0;
  XG_CHECK(ok, fn, ": series ", in_quotes(name), " has colour ", in_quotes(c),
           "; expected \"#rrggbb\" (e.g. \"#1f77b4\")");
  return {hex(c[1]) * 16 + hex(c[2]), hex(c[3]) * 16 + hex(c[4]), hex(c[5]) * 16 + hex(c[6])};
}

/// Text for PLplot: '#' starts PLplot's escape sequences, so it is doubled to print as is.
std::string plain(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    out += c;
    if (c == '#') out += '#';
  }
  return out;
}

void check_size(const char* fn, int64_t width, int64_t height, double font_scale) {
  XG_CHECK(width >= 100 && width <= 8000 && height >= 100 && height <= 8000, fn, ": picture size ",
           width, " x ", height, " is outside [100, 8000] in each direction");
  XG_CHECK(std::isfinite(font_scale) && font_scale > 0 && font_scale <= 10, fn,
           ": font_scale must be in (0, 10], got ", font_scale);
}

/// One picture: locks PLplot, opens a stream on a temporary file with the device of the path's
/// extension, white background, our colours and a text size that follows the picture's size.
/// finish() ends the page, checks PLplot's error status and renames the file into place.
class Page {
 public:
  Page(const char* fn, const std::string& path, int64_t width, int64_t height, double font_scale)
      : fn_(fn), path_(path), lock_(plplot_mutex()) {
    check_size(fn, width, height, font_scale);
    const char* dev = device_for(fn, path);
    plsexit(plplot_exit_handler);
    plsabort(plplot_abort_handler);
    check_device(fn, dev);
    file_ = std::make_unique<AtomicFile>(fn, path);
    stream_ = std::make_unique<plstream>();
    plstream& s = *stream_;
    errmsg_[0] = '\0';
    s.sError(&errcode_, errmsg_);
    s.sdev(dev);
    s.sfile(file_->stream());  // PLplot closes it when the page ends
    s.spage(0, 0, static_cast<PLINT>(width), static_cast<PLINT>(height), 0, 0);
    s.scolbg(255, 255, 255);
    s.init();
    check_errors();
    // Colour map 0: fixed roles, then room for the series colours.
    s.scmap0n(kFirstSeriesColor + 64);
    s.scol0(kWhite, 255, 255, 255);
    s.scol0(kBlack, 0, 0, 0);
    s.scol0(kGrid, 222, 222, 222);
    s.scol0(kDarkGrey, 80, 80, 80);
    s.scol0(kTrajectory, 220, 20, 60);
    s.scol0(kMasked, 200, 200, 200);
    set_viridis();
    s.adv(0);
    // Text height: PLplot's default is in mm at the device's fixed resolution, so it would
    // shrink relative to a larger picture; scale it with the smaller side (600 px reference),
    // but not below 0.9 of the reference, so that small pictures stay readable.
    const double side = static_cast<double>(std::min(width, height));
    text_scale_ = font_scale * std::clamp(side / 600.0, 0.9, 8.0) * 1.25;
    s.schr(0.0, text_scale_);
    s.ssym(0.0, text_scale_);
  }
  Page(const Page&) = delete;
  Page& operator=(const Page&) = delete;
  ~Page() {
    stream_.reset();  // plend1: closes PLplot's FILE (the temporary file is removed by file_)
    file_.reset();
  }

  plstream& s() { return *stream_; }
  /// Text size factor in use (for temporary changes: s.schr(0, text_scale() * 0.8)).
  double text_scale() const { return text_scale_; }

  /// Colour map 1 = viridis.
  void set_viridis() {
    PLFLT pos[9], r[9], g[9], b[9];
    for (int i = 0; i < 9; ++i) {
      pos[i] = i / 8.0;
      r[i] = kViridis[i].r / 255.0;
      g[i] = kViridis[i].g / 255.0;
      b[i] = kViridis[i].b / 255.0;
    }
    stream_->scmap1n(256);
    stream_->scmap1l(true, 9, pos, r, g, b);
  }

  /// Character height in normalized subpage units along x and y (for margins).
  std::pair<double, double> char_size() {
    PLFLT def = 0, ht = 0, x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    stream_->gchr(def, ht);
    stream_->gspa(x0, x1, y0, y1);
    return {ht / (x1 - x0), ht / (y1 - y0)};
  }

  /// Ends the page, then fails with PLplot's message if it reported an error, else renames the
  /// file into place.
  void finish() {
    stream_.reset();
    check_errors();
    file_->commit();
  }

  /// Throws PLplot's recorded error (plabort) if there is one.
  void check_errors() {
    if (errcode_ != 0) {
      std::string msg(errmsg_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      while (!msg.empty() && msg.front() == '\n') msg.erase(0, 1);
      io_fail(fn_ + ": PLplot failed while drawing " + in_quotes(path_) + ": " + msg);
    }
  }

 private:
  std::string fn_, path_;
  std::lock_guard<std::mutex> lock_;
  std::unique_ptr<AtomicFile> file_;
  std::unique_ptr<plstream> stream_;
  PLINT errcode_ = 0;
  char errmsg_[4096];
  double text_scale_ = 1.0;
};

// ---------------------------------------------------------------- helpers

/// A range [lo, hi] padded by `pad` of its width on each side; a zero-width range is widened.
std::pair<double, double> padded(double lo, double hi, double pad) {
  if (!(hi > lo)) {
    const double w = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    return {lo - w, hi + w};
  }
  const double w = hi - lo;
  return {lo - pad * w, hi + pad * w};
}

void check_grid_axis(const char* fn, const char* name, const std::vector<double>& v) {
  XG_CHECK(v.size() >= 2, fn, ": ", name, " needs at least 2 grid values, got ", v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    XG_CHECK(std::isfinite(v[i]), fn, ": ", name, "[", i, "] = ", v[i], " is not finite");
    XG_CHECK(i == 0 || v[i] > v[i - 1], fn, ": ", name, " must be strictly increasing, but ", name,
             "[", i - 1, "] = ", v[i - 1], " and ", name, "[", i, "] = ", v[i]);
  }
}

void check_grid(const char* fn, const std::vector<double>& x, const std::vector<double>& y,
                const std::vector<double>& z) {
  check_grid_axis(fn, "x", x);
  check_grid_axis(fn, "y", y);
  XG_CHECK(z.size() / y.size() == x.size() && z.size() % y.size() == 0, fn, ": z has ", z.size(),
           " values but the grid is y.size() x x.size() = ", y.size(), " x ", x.size(), " = ",
           x.size() * y.size(), " (z is row-major, one row per y value)");
}

/// A field in PLplot's layout f[i][j] = f(x[i], y[j]) (column-major relative to our rows).
struct Field {
  std::vector<double> data;  // nx * ny, x index slowest
  std::vector<const double*> rows;
  Field(const std::vector<double>& z, std::size_t nx, std::size_t ny) : data(nx * ny), rows(nx) {
    for (std::size_t i = 0; i < nx; ++i) {
      for (std::size_t j = 0; j < ny; ++j) data[i * ny + j] = z[j * nx + i];
      rows[i] = data.data() + i * ny;
    }
  }
};

/// Finite statistics of z: min, max, min positive, count of non-finite values.
struct Stats {
  double min = kNaN, max = kNaN, min_positive = kNaN;
  std::size_t non_finite = 0;
};
Stats stats_of(const std::vector<double>& z) {
  Stats s;
  for (double v : z) {
    if (!std::isfinite(v)) {
      ++s.non_finite;
      continue;
    }
    if (!(v >= s.min)) s.min = v;
    if (!(v <= s.max)) s.max = v;
    if (v > 0 && !(v >= s.min_positive)) s.min_positive = v;
  }
  return s;
}

std::string count_note(std::size_t n, const char* what) {
  return std::to_string(n) + (n == 1 ? " non-finite value " : " non-finite values ") + what;
}

/// Sets a line style on the stream.
void set_style(plstream& s, LineStyle style, double scale) {
  if (style == LineStyle::dashed) {
    PLINT mark = static_cast<PLINT>(5000 * scale), space = static_cast<PLINT>(3000 * scale);
    s.styl(1, &mark, &space);
  } else if (style == LineStyle::dotted) {
    PLINT mark = static_cast<PLINT>(900 * scale), space = static_cast<PLINT>(1800 * scale);
    s.styl(1, &mark, &space);
  } else {
    s.lsty(1);
  }
}

/// Draws y(x) as polylines broken at points that are not drawable; a drawable point with no
/// drawable neighbour gets a dot (a line through one point would not show).
void draw_segments(plstream& s, const std::vector<double>& x, const std::vector<double>& y,
                   const std::vector<bool>& ok) {
  std::vector<PLFLT> xs, ys;
  auto flush = [&] {
    if (xs.size() >= 2) s.line(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
    if (xs.size() == 1) s.string(1, xs.data(), ys.data(), "•");
    xs.clear();
    ys.clear();
  };
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!ok[i]) {
      flush();
      continue;
    }
    xs.push_back(x[i]);
    ys.push_back(y[i]);
  }
  flush();
}

/// Draws markers (filled dots) at the drawable points.
void draw_markers(plstream& s, const std::vector<double>& x, const std::vector<double>& y,
                  const std::vector<bool>& ok, const char* glyph) {
  std::vector<PLFLT> xs, ys;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (ok[i]) xs.push_back(x[i]), ys.push_back(y[i]);
  if (!xs.empty()) s.string(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), glyph);
}

// ---------------------------------------------------------------- plot_lines

/// A number as a short tick label ("0.2", "15", "1e-05").
std::string tick_label(double v) {
  std::ostringstream os;
  os << std::setprecision(6) << v;
  return os.str();
}

/// Tick values for a log axis over [10^l0, 10^l1] narrower than 3 decades, where PLplot would
/// label only the powers of 10 (maybe none): 1-2-5 steps over a decade or more, 1..9 steps
/// below, evenly spaced values for a very narrow range. Empty for 3 decades or more.
std::vector<double> log_ticks(double l0, double l1) {
  const double span = l1 - l0;
  if (span >= 3) return {};
  const std::vector<int> mult =
      span >= 1 ? std::vector<int>{1, 2, 5} : std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<double> out;
  for (int k = static_cast<int>(std::floor(l0)) - 1; k <= static_cast<int>(std::ceil(l1)); ++k)
    for (int m : mult) {
      const double v = m * std::pow(10.0, k);
      const double l = std::log10(v);
      if (l >= l0 - 1e-9 && l <= l1 + 1e-9) out.push_back(v);
    }
  if (out.size() >= 2) return out;
  // Very narrow: about 5 evenly spaced round values.
  const double lo = std::pow(10.0, l0), hi = std::pow(10.0, l1);
  const double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  out.clear();
  for (double v = std::ceil(lo / step) * step; v <= hi * (1 + 1e-12); v += step) out.push_back(v);
  return out;
}

/// A series after validation: values transformed for its axis (log10 for a log axis), which
/// points can be drawn, and its colour index.
struct Prepared {
  const Series* series;
  std::vector<double> y;
  std::vector<bool> ok;
  int color;
};

}  // namespace

void plot_lines(const std::string& path, const std::vector<double>& x,
                const std::vector<Series>& series, const PlotOptions& o) {
  const char* fn = "plot_lines";
  XG_CHECK(!x.empty(), fn, ": x is empty (nothing to plot to ", in_quotes(path), ")");
  XG_CHECK(!series.empty(), fn, ": no series given (nothing to plot to ", in_quotes(path), ")");
  for (std::size_t i = 0; i < x.size(); ++i) {
    XG_CHECK(std::isfinite(x[i]), fn, ": x[", i, "] = ", x[i], " is not finite");
    XG_CHECK(!o.log_x() || x[i] > 0, fn, ": log_x needs positive x, but x[", i, "] = ", x[i]);
  }
  bool has_right = false;
  for (const Series& se : series) {
    XG_CHECK(se.y().size() == x.size(), fn, ": series ", in_quotes(se.label()), " has ",
             se.y().size(), " values but x has ", x.size());
    XG_CHECK(std::isfinite(se.width()) && se.width() > 0 && se.width() <= 50, fn, ": series ",
             in_quotes(se.label()), " has line width ", se.width(), "; expected (0, 50]");
    if (!se.color().empty()) parse_color(fn, se.label(), se.color());
    has_right = has_right || se.axis() == YAxis::right;
  }
  auto check_range = [&](double lo, double hi, const char* name, bool log) {
    if (std::isnan(lo) && std::isnan(hi)) return;
    XG_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi, fn, ": ", name, " range [", lo,
             ", ", hi, "] must be finite with min < max (or both NaN)");
    XG_CHECK(!log || lo > 0, fn, ": ", name, " range [", lo, ", ", hi,
             "] must be positive on a log axis");
  };
  check_range(o.ymin(), o.ymax(), "left y", o.log_y());
  check_range(o.y2min(), o.y2max(), "right y", false);

  // Transform, mark drawable points, compute ranges.
  std::vector<double> xt(x);
  if (o.log_x())
    for (double& v : xt) v = std::log10(v);
  std::vector<Prepared> prep;
  double lo[2] = {kNaN, kNaN}, hi[2] = {kNaN, kNaN};
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& se = series[k];
    const int a = se.axis() == YAxis::right ? 1 : 0;
    const bool log = a == 0 && o.log_y();
    Prepared p{&se, se.y(), std::vector<bool>(x.size()), kFirstSeriesColor + static_cast<int>(k)};
    bool any_finite = false, any = false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double v = p.y[i];
      any_finite = any_finite || std::isfinite(v);
      p.ok[i] = std::isfinite(v) && (!log || v > 0);
      if (!p.ok[i]) continue;
      any = true;
      if (log) p.y[i] = std::log10(v);
      if (!(p.y[i] >= lo[a])) lo[a] = p.y[i];
      if (!(p.y[i] <= hi[a])) hi[a] = p.y[i];
    }
    XG_CHECK(!log || any || !any_finite, fn, ": series ", in_quotes(se.label()),
             " has no positive value to draw on the log y axis");
    prep.push_back(std::move(p));
  }
  auto axis_range = [&](int a, double umin, double umax, bool log) -> std::pair<double, double> {
    if (!std::isnan(umin))
      return log ? std::pair{std::log10(umin), std::log10(umax)} : std::pair{umin, umax};
    if (std::isnan(lo[a])) return {0.0, 1.0};
    return padded(lo[a], hi[a], 0.05);
  };
  const auto [y0, y1] = axis_range(0, o.ymin(), o.ymax(), o.log_y());
  const auto [r0, r1] = axis_range(1, o.y2min(), o.y2max(), false);
  // The x range is the data's (padded when markers would be cut in half at the frame).
  bool any_markers = false;
  for (const Series& se : series)
    any_markers = any_markers || se.markers() || se.style() == LineStyle::none;
  const auto xr = padded(*std::min_element(xt.begin(), xt.end()),
                         *std::max_element(xt.begin(), xt.end()), any_markers ? 0.03 : 0.0);
  XG_CHECK(std::isfinite(xr.second - xr.first) && std::isfinite(y1 - y0) && std::isfinite(r1 - r0),
           fn, ": the values span more than a double can hold (x [", xr.first, ", ", xr.second,
           "], left y [", y0, ", ", y1, "], right y [", r0, ", ", r1, "])");

  Page page(fn, path, o.width(), o.height(), o.font_scale());
  plstream& s = page.s();
  int next_auto = 0;
  for (Prepared& p : prep) {
    Rgb c = p.series->color().empty() ? kTab10[next_auto++ % 10]
                                      : parse_color(fn, p.series->label(), p.series->color());
    s.scol0(p.color, c.r, c.g, c.b);
  }
  const auto [cw, ch] = page.char_size();
  const double left = 6.5 * cw, right = 1.0 - (has_right ? 6.5 : 2.0) * cw;
  const double bottom = 4.2 * ch;
  double top = 1.0 - (o.title().empty() ? 1.5 : 3.2) * ch;

  // Legend where the curves are not: of 8 places along the frame (corners first), one that no
  // curve sample falls in (matplotlib's "best", roughly); if every place is crossed by a curve,
  // above the plot in rows of up to 3 entries.
  std::vector<const Prepared*> entries;
  for (const Prepared& p : prep)
    if (!p.series->label().empty()) entries.push_back(&p);
  const bool legend = o.legend() && !entries.empty();
  PLINT legend_pos = PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE;
  PLINT legend_columns = 1, legend_rows = static_cast<PLINT>(entries.size());
  if (legend) {
    // Legend size in normalized plot units, estimated from the text (PLplot reports it only
    // after drawing): line sample 0.08, offsets, ~0.6 char height per character; rows 2 chars.
    std::size_t longest = 0;
    for (const Prepared* p : entries) longest = std::max(longest, p->series->label().size());
    const double cx = cw / (right - left), cy = ch / (top - bottom);
    const double entry_w = 0.12 + (2.0 + 0.62 * static_cast<double>(longest)) * cx;
    const double lw = std::min(0.95, entry_w);
    const double lh = std::min(0.95, (2.0 * static_cast<double>(entries.size()) + 1.0) * cy);
    // Curve samples in normalized plot coordinates (vertices and points between them).
    std::vector<std::pair<double, double>> samples;
    for (const Prepared& p : prep) {
      const bool r = p.series->axis() == YAxis::right;
      const double a0 = r ? r0 : y0, a1 = r ? r1 : y1;
      auto norm = [&](std::size_t i) {
        return std::pair{(xt[i] - xr.first) / (xr.second - xr.first), (p.y[i] - a0) / (a1 - a0)};
      };
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!p.ok[i]) continue;
        const auto pa = norm(i);
        samples.push_back(pa);
        if (i + 1 < x.size() && p.ok[i + 1] && p.series->style() != LineStyle::none) {
          const auto pb = norm(i + 1);
          const int steps = static_cast<int>(std::min(
              50.0, std::ceil(std::hypot(pb.first - pa.first, pb.second - pa.second) / 0.01)));
          for (int t = 1; t < steps; ++t) {
            const double f = static_cast<double>(t) / steps;
            samples.push_back(
                {pa.first + f * (pb.first - pa.first), pa.second + f * (pb.second - pa.second)});
          }
        }
      }
    }
    struct Place {
      PLINT pos;
      double u0, v0;  // lower-left corner of the legend box in normalized plot coordinates
    };
    const double cu = 0.5 - lw / 2, cv = 0.5 - lh / 2;
    const Place places[8] = {{PL_POSITION_TOP | PL_POSITION_RIGHT, 1 - lw, 1 - lh},
                             {PL_POSITION_TOP | PL_POSITION_LEFT, 0, 1 - lh},
                             {PL_POSITION_BOTTOM | PL_POSITION_RIGHT, 1 - lw, 0},
                             {PL_POSITION_BOTTOM | PL_POSITION_LEFT, 0, 0},
                             {PL_POSITION_RIGHT, 1 - lw, cv},
                             {PL_POSITION_LEFT, 0, cv},
                             {PL_POSITION_TOP, cu, 1 - lh},
                             {PL_POSITION_BOTTOM, cu, 0}};
    bool found = false;
    for (const Place& pl : places) {
      bool hit = false;
      for (const auto& [u, v] : samples)
        if (u >= pl.u0 - 0.02 && u <= pl.u0 + lw + 0.02 && v >= pl.v0 - 0.02 &&
            v <= pl.v0 + lh + 0.02) {
          hit = true;
          break;
        }
      if (!hit) {
        legend_pos = pl.pos | PL_POSITION_INSIDE;
        found = true;
        break;
      }
    }
    if (!found) {
      legend_pos = PL_POSITION_TOP | PL_POSITION_OUTSIDE;
      legend_columns = static_cast<PLINT>(std::min<std::size_t>(
          entries.size(), static_cast<std::size_t>(std::max(1.0, 0.98 / entry_w))));
      legend_columns = std::min<PLINT>(legend_columns, 3);
      legend_rows = (static_cast<PLINT>(entries.size()) + legend_columns - 1) / legend_columns;
      top -= (2.0 * legend_rows + 0.8) * ch;
    }
  }
  s.vpor(left, right, bottom, top);
  s.wind(xr.first, xr.second, y0, y1);
  const std::string xlog = o.log_x() ? "l" : "", ylog = o.log_y() ? "l" : "";
  // Narrow log axes get their labels and grid lines from log_ticks (PLplot labels decades).
  const std::vector<double> yticks = o.log_y() ? log_ticks(y0, y1) : std::vector<double>{};
  const bool custom_y = !yticks.empty();
  if (o.grid()) {
    s.col0(kGrid);
    s.width(1.0);
    s.lsty(1);
    s.box(("g" + xlog).c_str(), 0, 0, custom_y ? "" : ("g" + ylog).c_str(), 0, 0);
    for (double t : yticks) s.join(xr.first, std::log10(t), xr.second, std::log10(t));
  }
  // Curves: left ones in the left window, then right ones in the right window.
  auto draw = [&](int axis) {
    for (Prepared& p : prep) {
      if ((p.series->axis() == YAxis::right ? 1 : 0) != axis) continue;
      s.col0(p.color);
      s.width(p.series->width());
      if (p.series->style() != LineStyle::none) {
        set_style(s, p.series->style(), 1.0);
        draw_segments(s, xt, p.y, p.ok);
        s.lsty(1);
      }
      if (p.series->markers() || p.series->style() == LineStyle::none)
        draw_markers(s, xt, p.y, p.ok, "•");
    }
  };
  draw(0);
  s.width(1.0);
  s.col0(kBlack);
  s.box(("bcnst" + xlog).c_str(), 0, 0,
        ((custom_y ? "bst" : "bnstv") + ylog + (has_right ? "" : "c")).c_str(), 0, 0);
  for (double t : yticks)
    s.mtex("lv", 0.7, (std::log10(t) - y0) / (y1 - y0), 1.0, tick_label(t).c_str());
  if (has_right) {
    s.wind(xr.first, xr.second, r0, r1);
    draw(1);
    s.width(1.0);
    s.col0(kBlack);
    s.box("", 0, 0, "cmstv", 0, 0);
  }
  s.col0(kBlack);
  s.mtex("b", 3.0, 0.5, 0.5, plain(o.xlabel()).c_str());
  s.mtex("l", 5.0, 0.5, 0.5, plain(o.ylabel()).c_str());
  if (has_right) s.mtex("r", 5.0, 0.5, 0.5, plain(o.y2label()).c_str());
  if (!o.title().empty()) {
    const bool above = legend && (legend_pos & PL_POSITION_OUTSIDE);
    s.schr(0.0, page.text_scale() * 1.2);
    s.mtex("t", above ? (2.0 * legend_rows + 0.8) / 1.2 + 1.2 : 1.2, 0.5, 0.5,
           plain(o.title()).c_str());
    s.schr(0.0, page.text_scale());
  }
  if (legend) {
    const auto n = static_cast<PLINT>(entries.size());
    std::vector<PLINT> opts(n), colors(n), styles(n, 1), sym_colors(n), sym_numbers(n, 1);
    std::vector<PLFLT> widths(n), sym_scales(n, 1.0);
    std::vector<std::string> texts(n);
    std::vector<const char*> text_ptrs(n), symbols(n, "•");
    for (PLINT i = 0; i < n; ++i) {
      const Series& se = *entries[i]->series;
      const bool line = se.style() != LineStyle::none;
      opts[i] = (line ? PL_LEGEND_LINE : 0) | (se.markers() || !line ? PL_LEGEND_SYMBOL : 0);
      colors[i] = sym_colors[i] = entries[i]->color;
      widths[i] = se.width();
      styles[i] = se.style() == LineStyle::dashed ? 3 : se.style() == LineStyle::dotted ? 2 : 1;
      texts[i] = plain(se.label());
      text_ptrs[i] = texts[i].c_str();
    }
    std::vector<PLINT> text_colors(n, kBlack);
    PLFLT w = 0, h = 0;
    s.legend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, legend_pos, 0.02,
             (legend_pos & PL_POSITION_OUTSIDE) ? 0.01 : 0.03, 0.08, kWhite, kGrid, 1, legend_rows,
             legend_columns, n, opts.data(), 1.0, 1.0, 2.0, 0.0, text_colors.data(),
             text_ptrs.data(), nullptr, nullptr, nullptr, nullptr, colors.data(), styles.data(),
             widths.data(), sym_colors.data(), sym_scales.data(), sym_numbers.data(),
             symbols.data());
  }

  page.finish();
}

}  // namespace xg::viz

// ---------------------------------------------------------------- plot_contour

namespace xg::viz {
namespace {

/// z (ny rows of nx) with every non-finite value replaced by the mean of its finite
/// 4-neighbours, filled layer by layer inward from the finite cells (z has a finite value).
std::vector<double> inpaint(const std::vector<double>& z, std::size_t nx, std::size_t ny) {
  std::vector<double> v(z);
  std::vector<char> known(z.size());
  std::vector<std::size_t> todo;
  for (std::size_t k = 0; k < z.size(); ++k) {
    known[k] = std::isfinite(z[k]);
    if (!known[k]) todo.push_back(k);
  }
  while (!todo.empty()) {
    std::vector<std::pair<std::size_t, double>> layer;
    std::vector<std::size_t> rest;
    for (std::size_t k : todo) {
      const std::size_t i = k % nx, j = k / nx;
      double sum = 0;
      int n = 0;
      auto add = [&](std::size_t q) {
        if (known[q]) sum += v[q], ++n;
      };
      if (i > 0) add(k - 1);
      if (i + 1 < nx) add(k + 1);
      if (j > 0) add(k - nx);
      if (j + 1 < ny) add(k + nx);
      if (n > 0)
        layer.push_back({k, sum / n});
      else
        rest.push_back(k);
    }
    for (const auto& [k, val] : layer) v[k] = val, known[k] = 1;
    todo.swap(rest);
  }
  return v;
}

/// About n round levels (steps 1, 2, 2.5 or 5 times a power of 10) covering [lo, hi].
std::vector<double> nice_levels(double lo, double hi, int64_t n) {
  // The smallest round step giving at most n + 1 levels from floor(lo) to ceil(hi).
  const double raw = (hi - lo) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {0.5, 1.0, 2.0, 2.5, 5.0}) {
    const double st = m * mag;
    const double count = std::ceil(hi / st - 1e-9) - std::floor(lo / st + 1e-9) + 1;
    if (count <= static_cast<double>(n + 1)) {
      step = st;
      break;
    }
  }
  std::vector<double> out;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (int k = 0;; ++k) {
    double v = first + k * step;
    if (std::abs(v) < 1e-12 * step) v = 0;  // an exact 0, not 1e-17
    out.push_back(v);
    if (v >= hi - 1e-9 * step || k >= 10000) break;
  }
  return out;
}

/// Round log-spaced levels covering [lo, hi] (lo > 0): mantissas 1-2-5, 1-3 or 1 per decade
/// (or every k-th decade), the densest set giving at most about n levels.
std::vector<double> nice_log_levels(double lo, double hi, int64_t n) {
  const int k0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  const int k1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  const std::vector<std::vector<double>> sets = {
      {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 5, 7}, {1, 2, 5}, {1, 3}, {1}};
  std::vector<double> out;
  for (const auto& mant : sets) {
    std::vector<double> cand;
    for (int k = k0 - 1; k <= k1 + 1; ++k)
      for (double m : mant) cand.push_back(m * std::pow(10.0, k));
    // From the last candidate at or below lo to the first at or above hi.
    std::size_t first = 0, last = cand.size() - 1;
    for (std::size_t i = 0; i < cand.size(); ++i)
      if (cand[i] <= lo * (1 + 1e-9)) first = i;
    for (std::size_t i = cand.size(); i-- > 0;)
      if (cand[i] >= hi * (1 - 1e-9)) last = i;
    out.assign(cand.begin() + static_cast<std::ptrdiff_t>(first),
               cand.begin() + static_cast<std::ptrdiff_t>(last) + 1);
    if (static_cast<int64_t>(out.size()) <= n + 1) return out;
  }
  // More decades than levels: every k-th decade.
  const int every = static_cast<int>(std::ceil((k1 - k0) / static_cast<double>(n - 1)));
  out.clear();
  for (int k = k0; k < k1 + every; k += every) out.push_back(std::pow(10.0, k));
  return out;
}

/// The contour levels (increasing) from the options over [vmin, vmax].
std::vector<double> contour_levels(const char* fn, const ContourOptions& o, double vmin,
                                   double vmax, bool auto_range) {
  const bool log = o.log_levels();
  std::vector<double> levels;
  if (!o.level_values().empty()) {
    levels = o.level_values();
    XG_CHECK(levels.size() >= 2, fn, ": level_values needs at least 2 levels, got ", levels.size());
    for (std::size_t i = 0; i < levels.size(); ++i) {
      XG_CHECK(std::isfinite(levels[i]), fn, ": level_values[", i, "] = ", levels[i],
               " is not finite");
      XG_CHECK(i == 0 || levels[i] > levels[i - 1], fn,
               ": level_values must be strictly increasing, but level_values[", i - 1,
               "] = ", levels[i - 1], " and level_values[", i, "] = ", levels[i]);
      XG_CHECK(!log || levels[i] > 0, fn, ": log_levels needs positive levels, but level_values[",
               i, "] = ", levels[i]);
    }
    return levels;
  }
  if (o.level_step() > 0) {
    XG_CHECK(!log, fn,
             ": level_step gives evenly spaced levels; it cannot be combined with "
             "log_levels (use levels(n) or level_values)");
    const double n = std::ceil((vmax - vmin) / o.level_step() - 1e-9);  // numpy's arange
    XG_CHECK(n >= 2 && n <= 1000, fn, ": level_step ", o.level_step(), " gives ", n,
             " levels over [", vmin, ", ", vmax, "]; expected 2 to 1000");
    for (int i = 0; i < static_cast<int>(n); ++i) levels.push_back(vmin + i * o.level_step());
    return levels;
  }
  const auto n = o.levels();
  if (auto_range) return log ? nice_log_levels(vmin, vmax, n) : nice_levels(vmin, vmax, n);
  for (int64_t i = 0; i < n; ++i) {
    const double f = static_cast<double>(i) / static_cast<double>(n - 1);
    levels.push_back(
        log ? std::pow(10.0, std::log10(vmin) + f * (std::log10(vmax) - std::log10(vmin)))
            : vmin + f * (vmax - vmin));
  }
  return levels;
}

/// Cell edges around grid values (midpoints, ends extended by half a cell): n + 1 values.
std::vector<double> cell_edges(const std::vector<double>& v) {
  std::vector<double> e(v.size() + 1);
  for (std::size_t i = 1; i < v.size(); ++i) e[i] = 0.5 * (v[i - 1] + v[i]);
  e.front() = v.front() - 0.5 * (v[1] - v[0]);
  e.back() = v.back() + 0.5 * (v[v.size() - 1] - v[v.size() - 2]);
  return e;
}

/// A PLplot coordinate grid (tr1) over the vectors.
PLcGrid grid_of(std::vector<double>& xv, std::vector<double>& yv) {
  PLcGrid g;
  g.xg = xv.data();
  g.yg = yv.data();
  g.zg = nullptr;
  g.nx = static_cast<PLINT>(xv.size());
  g.ny = static_cast<PLINT>(yv.size());
  return g;
}

/// Tick values for a colour bar over [lo, hi] in colour coordinates (log10 of the values when
/// `log`), returned as values (not log10).
std::vector<double> bar_ticks(double lo, double hi, bool log) {
  std::vector<double> out;
  if (log) {
    out = log_ticks(lo, hi);
    if (out.empty()) {  // 3 decades or more: powers of 10, every k-th to keep about 8
      const int k0 = static_cast<int>(std::ceil(lo - 1e-9)),
                k1 = static_cast<int>(std::floor(hi + 1e-9));
      const int every = std::max(1, static_cast<int>(std::ceil((k1 - k0 + 1) / 8.0)));
      for (int k = k0; k <= k1; k += every) out.push_back(std::pow(10.0, k));
    }
    if (out.size() > 10) {  // 1-2-5 over 2-3 decades: keep the 1s and 5s... thin evenly
      std::vector<double> thin;
      for (std::size_t i = 0; i < out.size(); i += 2) thin.push_back(out[i]);
      out.swap(thin);
    }
    return out;
  }
  for (double v : nice_levels(lo, hi, 7))
    if (v >= lo - 1e-9 * (hi - lo) && v <= hi + 1e-9 * (hi - lo)) out.push_back(v);
  return out;
}

/// A tick label; powers of 10 far from 1 as 10^k (PLplot's superscript escapes).
std::string bar_label(double v) {
  const double k = std::round(std::log10(std::abs(v)));
  if (v > 0 && std::abs(v - std::pow(10.0, k)) < 1e-9 * v && std::abs(k) >= 4)
    return "10#u" + std::to_string(static_cast<int>(k)) + "#d";
  return tick_label(v);
}

/// Draws a vertical colour bar in the normalized box [x0, x1] x [y0, y1] of the subpage: bands
/// between `bands` (filled contours: colour k/(n-2) of map 1 for band k, as plshades) or a
/// continuous gradient, over colour coordinates [lo, hi] (log10 of the values when `log`), with
/// ticks and labels on its right and `label` above. Leaves the viewport changed.
void draw_colorbar(plstream& s, double x0, double x1, double y0, double y1, double lo, double hi,
                   const std::vector<double>& bands, bool log, const std::string& label,
                   double text_scale) {
  s.vpor(x0, x1, y0, y1);
  s.wind(0.0, 1.0, lo, hi);
  if (bands.size() >= 2) {
    for (std::size_t k = 0; k + 1 < bands.size(); ++k) {
      s.col1(bands.size() == 2 ? 0.0
                               : static_cast<double>(k) / static_cast<double>(bands.size() - 2));
      PLFLT rx[4] = {0, 1, 1, 0}, ry[4] = {bands[k], bands[k], bands[k + 1], bands[k + 1]};
      s.fill(4, rx, ry);
    }
  } else {
    const int steps = 256;
    for (int k = 0; k < steps; ++k) {
      s.col1(static_cast<double>(k) / (steps - 1));
      const double a = lo + (hi - lo) * k / steps, b = lo + (hi - lo) * (k + 1) / steps;
      PLFLT rx[4] = {0, 1, 1, 0}, ry[4] = {a, a, b, b};
      s.fill(4, rx, ry);
    }
  }
  s.col0(kBlack);
  s.width(1.0);
  s.box("bc", 0, 0, "bc", 0, 0);
  // Ticks: the band edges when there are few (and they are the values), else round values.
  std::vector<double> ticks;
  if (bands.size() >= 2 && bands.size() <= 12) {
    for (double b : bands) ticks.push_back(log ? std::pow(10.0, b) : b);
  } else {
    ticks = bar_ticks(lo, hi, log);
  }
  s.schr(0.0, text_scale * 0.9);
  for (double t : ticks) {
    const double c = log ? std::log10(t) : t;
    if (c < lo - 1e-9 * (hi - lo) || c > hi + 1e-9 * (hi - lo)) continue;
    s.join(0.75, c, 1.0, c);
    s.mtex("rv", 0.5, (c - lo) / (hi - lo), 0.0, bar_label(t).c_str());
  }
  // The label runs up the right side (above the bar it would meet a long title).
  if (!label.empty()) s.mtex("r", 4.2, 0.5, 0.5, plain(label).c_str());
  s.schr(0.0, text_scale);
}

}  // namespace

void plot_contour(const std::string& path, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<double>& z,
                  const ContourOptions& o) {
  const char* fn = "plot_contour";
  check_grid(fn, x, y, z);
  const std::size_t nx = x.size(), ny = y.size();
  XG_CHECK(o.levels() >= 2 && o.levels() <= 200, fn, ": levels must be in [2, 200], got ",
           o.levels());
  XG_CHECK(std::isfinite(o.level_step()) && o.level_step() >= 0, fn,
           ": level_step must be >= 0 (0: use levels), got ", o.level_step());
  XG_CHECK(!std::isinf(o.vmin()) && !std::isinf(o.vmax()), fn, ": vmin and vmax must be finite",
           " (or NaN for the data's range), got ", o.vmin(), " and ", o.vmax());
  const auto& tx = o.trajectory_x();
  const auto& ty = o.trajectory_y();
  XG_CHECK(tx.size() == ty.size(), fn, ": trajectory_x has ", tx.size(),
           " points but trajectory_y has ", ty.size());
  XG_CHECK(o.trajectory_labels().empty() || o.trajectory_labels().size() == tx.size(), fn,
           ": trajectory_labels has ", o.trajectory_labels().size(),
           " labels but the trajectory has ", tx.size(),
           " points (give one label per point, or none)");
  for (std::size_t k = 0; k < tx.size(); ++k)
    XG_CHECK(std::isfinite(tx[k]) && std::isfinite(ty[k]), fn, ": trajectory point ", k, " (",
             tx[k], ", ", ty[k], ") is not finite");

  const auto& qx = o.points_x();
  const auto& qy = o.points_y();
  const auto& qc = o.points_class();
  XG_CHECK(qx.size() == qy.size(), fn, ": points_x has ", qx.size(), " points but points_y has ",
           qy.size());
  XG_CHECK(qc.empty() || qc.size() == qx.size(), fn, ": points_class has ", qc.size(),
           " classes but there are ", qx.size(), " points (give one per point, or none)");
  for (std::size_t k = 0; k < qx.size(); ++k) {
    XG_CHECK(std::isfinite(qx[k]) && std::isfinite(qy[k]), fn, ": point ", k, " (", qx[k], ", ",
             qy[k], ") is not finite");
    XG_CHECK(qc.empty() || qc[k] >= 0, fn, ": point ", k, " has class ", qc.empty() ? 0 : qc[k],
             " (classes are >= 0)");
  }

  const Stats st = stats_of(z);
  XG_CHECK(!std::isnan(st.min), fn, ": z has no finite value (all ", z.size(),
           " values are NaN or inf)");
  const bool log = o.log_levels();
  double vmin = o.vmin(), vmax = o.vmax();
  if (std::isnan(vmin)) vmin = log ? st.min_positive : st.min;
  if (std::isnan(vmax)) vmax = st.max;
  XG_CHECK(!log || vmin > 0, fn, ": log_levels needs vmin > 0, but ",
           std::isnan(o.vmin()) ? "z has no positive value" : "vmin = " + std::to_string(vmin));
  if (!(vmax > vmin)) {
    XG_CHECK(std::isnan(o.vmin()) || std::isnan(o.vmax()), fn, ": vmin (", vmin,
             ") must be below vmax (", vmax, ")");
    if (log) {
      vmin /= 1.5;
      vmax = vmin * 2.25 > vmax ? vmin * 2.25 : vmax;
    } else {
      std::tie(vmin, vmax) = padded(vmin, vmax, 0);
    }
  }
  XG_CHECK(std::isfinite(vmax - vmin), fn, ": the values span more than a double can hold ([", vmin,
           ", ", vmax, "])");
  const std::vector<double> levels =
      contour_levels(fn, o, vmin, vmax, std::isnan(o.vmin()) && std::isnan(o.vmax()));
  const bool image = o.heatmap(), filled = o.filled() && !image, lines = !image && !filled;

  // Colour-scale coordinates: log10 for log levels in filled/image mode (lines use the values,
  // so that their labels show them).
  auto t = [&](double v) { return log && !lines ? std::log10(v) : v; };
  std::vector<double> tl;
  for (double l : levels) tl.push_back(t(l));
  const double lo = image ? t(vmin) : tl.front(), hi = image ? t(vmax) : tl.back();
  const double span = hi - lo;
  XG_CHECK(std::isfinite(span) && std::isfinite(x.back() - x.front()) &&
               std::isfinite(y.back() - y.front()),
           fn, ": the values span more than a double can hold (colour range [", lo, ", ", hi,
           "], x [", x.front(), ", ", x.back(), "], y [", y.front(), ", ", y.back(), "])");
  // The field to draw: non-finite cells filled in from their neighbours (so that no band or line
  // bunches up around them; they are painted over afterwards), then for filled/image clamped
  // into [lo, hi] (log's non-positive values to the bottom).
  std::vector<double> w = inpaint(z, nx, ny);
  if (!lines)
    for (double& v : w) {
      const double tv = log && v <= 0 ? lo : t(v);
      v = std::clamp(tv, lo + 1e-9 * span, hi - 1e-9 * span);
    }
  const Field f(w, nx, ny);
  std::vector<double> xs(x), ys(y);
  PLcGrid grid = grid_of(xs, ys);

  Page page(fn, path, o.width(), o.height(), o.font_scale());
  plstream& s = page.s();
  const auto [cw, ch] = page.char_size();
  const bool bar = o.colorbar() && !lines;
  const bool note = st.non_finite > 0;
  const double left = 6.5 * cw, right = 1.0 - (bar ? (o.zlabel().empty() ? 9.0 : 10.5) : 2.5) * cw;
  const double bottom = (note ? 5.6 : 4.2) * ch;
  const double top = 1.0 - (!o.title().empty() ? 3.2 : 1.5) * ch;
  s.vpor(left, right, bottom, top);
  s.wind(x.front(), x.back(), y.front(), y.back());

  if (image) {
    std::vector<double> ex = cell_edges(x), ey = cell_edges(y);
    PLcGrid egrid = grid_of(ex, ey);
    // The cells at the edges extend half a cell beyond the window; PLplot clips them.
    s.imagefr(f.rows.data(), static_cast<PLINT>(nx), static_cast<PLINT>(ny), x.front(), x.back(),
              y.front(), y.back(), lo, hi, lo, hi, plcallback::tr1, &egrid);
  } else if (filled) {
    s.shades(f.rows.data(), static_cast<PLINT>(nx), static_cast<PLINT>(ny), nullptr, x.front(),
             x.back(), y.front(), y.back(), tl.data(), static_cast<PLINT>(tl.size()), 1.0, 0, 0.0,
             plcallback::fill, false, plcallback::tr1, &grid);
  }
  // Contour lines: coloured by level (plain contour plot) or thin and dark over filled/image.
  if (lines || o.contour_lines()) {
    // Lines are drawn on the values (labels show them), filled in where not finite.
    const Field fr(lines ? w : inpaint(z, nx, ny), nx, ny);
    const bool labels = lines && o.labels();
    s.setcontlabelformat(4, 2);
    s.setcontlabelparam(0.006, 0.6 * page.text_scale(), 0.4, labels ? 1 : 0);
    for (std::size_t k = 0; k < levels.size(); ++k) {
      if (lines) {
        s.col1(0.85 * static_cast<double>(k) / static_cast<double>(levels.size() - 1));
        s.width(1.5);
      } else {
        s.col0(kDarkGrey);
        s.width(0.7);
      }
      s.cont(fr.rows.data(), static_cast<PLINT>(nx), static_cast<PLINT>(ny), 1,
             static_cast<PLINT>(nx), 1, static_cast<PLINT>(ny), &levels[k], 1, plcallback::tr1,
             &grid);
    }
    s.setcontlabelparam(0.006, 0.3, 0.1, 0);
  }

  // Masked (non-finite) cells: light grey rectangles over whatever was drawn.
  if (st.non_finite > 0) {
    const std::vector<double> ex = cell_edges(x), ey = cell_edges(y);
    s.col0(kMasked);
    for (std::size_t j = 0; j < ny; ++j)
      for (std::size_t i = 0; i < nx; ++i) {
        if (std::isfinite(z[j * nx + i])) continue;
        PLFLT rx[4] = {ex[i], ex[i + 1], ex[i + 1], ex[i]},
              ry[4] = {ey[j], ey[j], ey[j + 1], ey[j + 1]};
        s.fill(4, rx, ry);
      }
  }

  // Scatter points: a dark dot, then a smaller one in the class's colour on it (a rim).
  if (!qx.empty()) {
    for (int c = 0; c < 10; ++c)
      s.scol0(kFirstSeriesColor + c, kTab10[c].r, kTab10[c].g, kTab10[c].b);
    std::vector<PLFLT> px(qx.begin(), qx.end()), py(qy.begin(), qy.end());
    const auto n = static_cast<PLINT>(px.size());
    s.col0(kBlack);
    s.schr(0.0, page.text_scale() * 0.6);
    s.string(n, px.data(), py.data(), "●");
    s.schr(0.0, page.text_scale() * 0.42);
    for (int c = 0; c < 10; ++c) {
      std::vector<PLFLT> cx, cy;
      for (std::size_t k = 0; k < qx.size(); ++k)
        if ((qc.empty() ? 0 : qc[k] % 10) == c) cx.push_back(qx[k]), cy.push_back(qy[k]);
      if (cx.empty()) continue;
      s.col0(kFirstSeriesColor + c);
      s.string(static_cast<PLINT>(cx.size()), cx.data(), cy.data(), "●");
    }
    s.schr(0.0, page.text_scale());
  }

  // Trajectory: a path with dots, an open circle at the start, a star at the end.
  if (!tx.empty()) {
    std::vector<PLFLT> px(tx.begin(), tx.end()), py(ty.begin(), ty.end());
    const auto n = static_cast<PLINT>(px.size());
    s.col0(kTrajectory);
    s.width(2.0);
    if (n >= 2) s.line(n, px.data(), py.data());
    s.string(n, px.data(), py.data(), "•");
    s.ssym(0.0, page.text_scale() * 1.6);
    s.schr(0.0, page.text_scale() * 1.6);
    s.string(1, &px.front(), &py.front(), "○");
    s.string(1, &px.back(), &py.back(), "★");
    s.schr(0.0, page.text_scale() * 0.8);
    s.col0(image || filled ? kWhite : kBlack);
    for (PLINT k = 0; k < n && !o.trajectory_labels().empty(); ++k)
      if (!o.trajectory_labels()[k].empty())
        s.ptex(px[k], py[k], 1.0, 0.0, -0.15, plain(o.trajectory_labels()[k]).c_str());
    s.schr(0.0, page.text_scale());
    s.ssym(0.0, page.text_scale());
  }

  s.width(1.0);
  s.col0(kBlack);
  s.box("bcnst", 0, 0, "bcnstv", 0, 0);
  s.mtex("b", 3.0, 0.5, 0.5, plain(o.xlabel()).c_str());
  s.mtex("l", 5.0, 0.5, 0.5, plain(o.ylabel()).c_str());
  if (!o.title().empty()) {
    s.schr(0.0, page.text_scale() * 1.2);
    s.mtex("t", 1.2, 0.5, 0.5, plain(o.title()).c_str());
    s.schr(0.0, page.text_scale());
  }
  if (note) {
    s.schr(0.0, page.text_scale() * 0.8);
    s.col0(kDarkGrey);
    s.mtex("b", 5.8, 0.0, 0.0, count_note(st.non_finite, "(NaN/inf) masked (grey)").c_str());
    s.schr(0.0, page.text_scale());
    s.col0(kBlack);
  }
  if (bar)
    draw_colorbar(s, right + 1.5 * cw, right + 3.3 * cw, bottom, top, lo, hi,
                  image ? std::vector<double>{} : tl, log, o.zlabel(), page.text_scale());
  page.finish();
}

}  // namespace xg::viz

// ---------------------------------------------------------------- plot_surface

namespace xg::viz {

void plot_surface(const std::string& path, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<double>& z,
                  const SurfaceOptions& o) {
  const char* fn = "plot_surface";
  check_grid(fn, x, y, z);
  const std::size_t nx = x.size(), ny = y.size();
  XG_CHECK(std::isfinite(o.altitude()) && o.altitude() >= 0 && o.altitude() <= 90, fn,
           ": altitude must be in [0, 90] degrees, got ", o.altitude());
  XG_CHECK(std::isfinite(o.azimuth()), fn, ": azimuth must be finite, got ", o.azimuth());
  XG_CHECK(!std::isinf(o.zmax()), fn, ": zmax must be finite (or NaN for no clipping), got ",
           o.zmax());
  const Stats st = stats_of(z);
  XG_CHECK(!std::isnan(st.min), fn, ": z has no finite value (all ", z.size(),
           " values are NaN or inf)");
  XG_CHECK(!o.log_z() || !std::isnan(st.min_positive), fn,
           ": log_z needs positive values, but z has none");
  XG_CHECK(!o.log_z() || std::isnan(o.zmax()) || o.zmax() > 0, fn, ": log_z needs zmax > 0, got ",
           o.zmax());
  // Heights: non-finite to the top (NaN, +inf) or bottom (-inf), clipped at zmax, log10.
  const double top_value = std::isnan(o.zmax()) ? st.max : std::min(st.max, o.zmax());
  std::vector<double> w(z.size());
  for (std::size_t k = 0; k < z.size(); ++k) {
    double v = z[k];
    if (!std::isfinite(v)) v = v == -INFINITY ? st.min : top_value;
    if (!std::isnan(o.zmax())) v = std::min(v, o.zmax());
    if (o.log_z()) v = std::log10(std::max(v, st.min_positive));
    w[k] = v;
  }
  double lo = *std::min_element(w.begin(), w.end()), hi = *std::max_element(w.begin(), w.end());
  if (!(hi > lo)) std::tie(lo, hi) = padded(lo, hi, 0);
  XG_CHECK(std::isfinite(hi - lo) && std::isfinite(x.back() - x.front()) &&
               std::isfinite(y.back() - y.front()),
           fn, ": the values span more than a double can hold (z [", lo, ", ", hi, "], x [",
           x.front(), ", ", x.back(), "], y [", y.front(), ", ", y.back(), "])");
  const Field f(w, nx, ny);
  std::vector<PLFLT> xs(x.begin(), x.end()), ys(y.begin(), y.end());

  Page page(fn, path, o.width(), o.height(), o.font_scale());
  plstream& s = page.s();
  const auto [cw, ch] = page.char_size();
  const bool note = st.non_finite > 0;
  const double right = 1.0 - (o.colorbar() ? (o.zlabel().empty() ? 9.0 : 10.5) : 1.0) * cw;
  const double bottom = (note ? 1.8 : 0.0) * ch, top = 1.0 - (o.title().empty() ? 0.5 : 3.0) * ch;
  s.vpor(0.0, right, bottom, top);
  s.wind(-1.0, 0.82, -0.72, 1.17);
  s.col0(kBlack);
  s.w3d(1.0, 1.0, 0.9, x.front(), x.back(), y.front(), y.back(), lo, hi, o.altitude(), o.azimuth());
  s.schr(0.0, page.text_scale() * 0.9);
  // A log_z axis is labelled in log10 units (PLplot's log labels show only powers of 10).
  const std::string zlabel =
      o.log_z() ? "log10(" + (o.zlabel().empty() ? std::string("z") : o.zlabel()) + ")"
                : o.zlabel();
  s.box3("bnstu", plain(o.xlabel()).c_str(), 0.0, 0, "bnstu", plain(o.ylabel()).c_str(), 0.0, 0,
         "bcdnstu", plain(zlabel).c_str(), 0.0, 0);
  s.schr(0.0, page.text_scale());
  s.col0(kDarkGrey);
  s.width(0.5);
  s.surf3d(xs.data(), ys.data(), f.rows.data(), static_cast<PLINT>(nx), static_cast<PLINT>(ny),
           MAG_COLOR | (o.mesh() ? FACETED : 0), nullptr, 0);
  s.width(1.0);
  s.col0(kBlack);
  if (!o.title().empty()) {
    s.vpor(0.0, 1.0, 0.0, 1.0);
    s.schr(0.0, page.text_scale() * 1.2);
    s.mtex("t", -1.5, 0.5, 0.5, plain(o.title()).c_str());
    s.schr(0.0, page.text_scale());
  }
  if (note) {
    s.vpor(0.0, 1.0, 0.0, 1.0);
    s.schr(0.0, page.text_scale() * 0.8);
    s.col0(kDarkGrey);
    s.mtex("b", -1.0, 0.02, 0.0,
           count_note(st.non_finite, "(NaN/inf) drawn at the end of the z range").c_str());
    s.schr(0.0, page.text_scale());
    s.col0(kBlack);
  }
  if (o.colorbar())
    draw_colorbar(s, right + 1.5 * cw, right + 3.3 * cw, 0.2, 0.8, lo, hi, {}, o.log_z(),
                  o.zlabel(), page.text_scale());
  page.finish();
}

}  // namespace xg::viz

// ---------------------------------------------------------------- write_vtk

namespace xg::viz {

void write_vtk(const std::string& path, const std::vector<double>& x, const std::vector<double>& y,
               const std::vector<double>& z, const VtkOptions& o) {
  const char* fn = "write_vtk";
  check_grid(fn, x, y, z);
  const std::string& name = o.field_name();
  bool ok_name = !name.empty() && name != "finite";
  for (char c : name)
    ok_name = ok_name &&
              (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  XG_CHECK(ok_name, fn, ": field_name ", in_quotes(name),
           " must be non-empty, not \"finite\", and made of letters, digits, '_', '-', '.'");
  XG_CHECK(!std::isinf(o.zmax()), fn, ": zmax must be finite (or NaN for no clipping), got ",
           o.zmax());
  const Stats st = stats_of(z);
  XG_CHECK(!std::isnan(st.min), fn, ": z has no finite value (all ", z.size(),
           " values are NaN or inf)");
  // Values as h52vtp makes them: clipped at zmax, then log(z + 0.1); non-finite ones take the
  // largest finite value (the smallest for -inf) and are flagged in "finite".
  std::vector<double> v(z.size());
  for (std::size_t k = 0; k < z.size(); ++k) {
    double a = std::isfinite(z[k]) ? z[k] : (z[k] == -INFINITY ? st.min : st.max);
    if (!std::isnan(o.zmax())) a = std::min(a, o.zmax());
    if (o.log()) {
      XG_CHECK(a + 0.1 > 0, fn, ": log needs z > -0.1 (it stores log(z + 0.1)), but z[", k,
               "] = ", a);
      a = std::log(a + 0.1);
    }
    v[k] = a;
  }
  const std::size_t nx = x.size(), ny = y.size(), n = z.size();
  std::ostringstream os;
  os << std::setprecision(9);
  os << "# vtk DataFile Version 3.0\n"
     << "xgrad surface " << name << (o.log() ? " (log(z + 0.1))" : "") << "\n"
     << "ASCII\n"
     << "DATASET STRUCTURED_GRID\n"
     << "DIMENSIONS " << nx << " " << ny << " 1\n"
     << "POINTS " << n << " double\n";
  for (std::size_t j = 0; j < ny; ++j)
    for (std::size_t i = 0; i < nx; ++i) os << x[i] << " " << y[j] << " " << v[j * nx + i] << "\n";
  os << "POINT_DATA " << n << "\n"
     << "SCALARS " << name << " double 1\n"
     << "LOOKUP_TABLE default\n";
  for (std::size_t k = 0; k < n; ++k) os << v[k] << "\n";
  os << "SCALARS finite int 1\n"
     << "LOOKUP_TABLE default\n";
  for (std::size_t k = 0; k < n; ++k) os << (std::isfinite(z[k]) ? 1 : 0) << "\n";
  const std::string text = os.str();

  AtomicFile file(fn, path);
  FILE* f = file.stream();
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed)
    io_fail(std::string(fn) + ": cannot write " + in_quotes(path) + ": " + std::strerror(errno));
  file.commit();
}

// ---------------------------------------------------------------- training curves

// ---------------------------------------------------------------- plot_images

void plot_images(const std::string& path, const std::vector<std::vector<double>>& images,
                 std::size_t height, std::size_t width, const ImageGridOptions& o) {
  const char* fn = "plot_images";
  XG_CHECK(!images.empty(), fn, ": no images to draw");
  XG_CHECK(height >= 1 && width >= 1, fn, ": images must be at least 1 x 1, got ", height, " x ",
           width);
  const std::size_t n = images.size();
  for (std::size_t k = 0; k < n; ++k) {
    XG_CHECK(images[k].size() == height * width, fn, ": image ", k, " has ", images[k].size(),
             " values, expected ", height, " x ", width, " = ", height * width);
    for (double v : images[k])
      XG_CHECK(std::isfinite(v), fn, ": image ", k, " has a non-finite value (", v, ")");
  }
  XG_CHECK(o.titles().empty() || o.titles().size() == n, fn, ": titles has ", o.titles().size(),
           " entries for ", n, " images (give one per image, or none)");
  XG_CHECK(o.cols() >= 0, fn, ": cols must be >= 0, got ", o.cols());
  XG_CHECK(o.percentile() > 50 && o.percentile() <= 100, fn,
           ": percentile must be in (50, 100], got ", o.percentile());
  const std::size_t cols =
      o.cols() > 0 ? std::min<std::size_t>(static_cast<std::size_t>(o.cols()), n)
                   : static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  const std::size_t rows = (n + cols - 1) / cols;
  // Layout in units of one panel side p: a margin of 0.1 p around each panel, 0.3 p above it
  // for its caption, and 0.3 p on top for the title.
  const double caption = o.titles().empty() ? 0.0 : 0.3, top = o.title().empty() ? 0.0 : 0.3;
  const double cell_w = 1.2, cell_h = 1.2 + caption;
  const double page_w = static_cast<double>(cols) * cell_w;
  const double page_h = static_cast<double>(rows) * cell_h + top;
  const auto pic_h =
      static_cast<int64_t>(std::lround(static_cast<double>(o.width()) * page_h / page_w *
                                       static_cast<double>(height) / static_cast<double>(width)));
  Page page(fn, path, o.width(), std::clamp<int64_t>(pic_h, 100, 8000), o.font_scale());
  plstream& s = page.s();
  if (o.symmetric()) {  // blue - white - red (ColorBrewer RdBu)
    PLFLT pos[3] = {0, 0.5, 1}, r[3] = {33 / 255.0, 0.97, 178 / 255.0},
          g[3] = {102 / 255.0, 0.97, 24 / 255.0}, b[3] = {172 / 255.0, 0.97, 43 / 255.0};
    s.scmap1l(true, 3, pos, r, g, b);
  } else {
    PLFLT pos[2] = {0, 1}, v[2] = {0, 1};
    s.scmap1l(true, 2, pos, v, v, v);
  }
  const double text = page.text_scale() * std::clamp(6.0 / static_cast<double>(cols), 0.5, 1.0);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t r = k / cols, c = k % cols;
    const double x0 = (static_cast<double>(c) * cell_w + 0.1) / page_w;
    const double y1 = 1.0 - (top + static_cast<double>(r) * cell_h + caption + 0.1) / page_h;
    s.vpor(x0, x0 + 1.0 / page_w, y1 - 1.0 / page_h, y1);
    s.wind(0, static_cast<double>(width), 0, static_cast<double>(height));
    const std::vector<double>& im = images[k];
    // The q-quantile of the values v (q in [0, 1]; nearest rank).
    auto quantile = [](std::vector<double> v, double q) {
      const auto k = static_cast<std::size_t>(std::lround(q * static_cast<double>(v.size() - 1)));
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      return v[k];
    };
    const double q = o.percentile() / 100.0;
    double lo = quantile(im, 1 - q), hi = quantile(im, q);
    if (o.symmetric()) {
      std::vector<double> mag(im.size());
      for (std::size_t i = 0; i < im.size(); ++i) mag[i] = std::abs(im[i]);
      const double m = quantile(mag, q);
      lo = -m, hi = m;
    }
    if (!(hi > lo)) lo -= 1, hi += 1;  // a constant image: mid colour
    // PLplot's image is indexed [x][y] with y upwards: row 0 of the image goes to the top.
    // Values are clamped into [lo, hi] (PLplot leaves values outside its range blank).
    std::vector<double> data(height * width);
    std::vector<const double*> columns(width);
    for (std::size_t i = 0; i < width; ++i) {
      for (std::size_t j = 0; j < height; ++j)
        data[i * height + j] = std::clamp(im[(height - 1 - j) * width + i], lo, hi);
      columns[i] = data.data() + i * height;
    }
    // One cell per pixel: with no transform PLplot spreads the width x height values over
    // (width - 1) x (height - 1) cells (a 3 x 3 filter would show as 2 x 2); the tr1 grid of
    // cell edges 0, 1, ..., width (and height) gives every value its own cell.
    std::vector<double> ex(width + 1), ey(height + 1);
    for (std::size_t i = 0; i <= width; ++i) ex[i] = static_cast<double>(i);
    for (std::size_t j = 0; j <= height; ++j) ey[j] = static_cast<double>(j);
    PLcGrid edges = grid_of(ex, ey);
    s.imagefr(columns.data(), static_cast<PLINT>(width), static_cast<PLINT>(height), 0,
              static_cast<double>(width), 0, static_cast<double>(height), lo, hi, lo, hi,
              plcallback::tr1, &edges);
    s.col0(kDarkGrey);
    s.box("bc", 0, 0, "bc", 0, 0);
    if (!o.titles().empty()) {
      s.col0(kBlack);
      s.schr(0.0, text);
      s.mtex("t", 0.6, 0.5, 0.5, plain(o.titles()[k]).c_str());
    }
  }
  if (!o.title().empty()) {
    s.col0(kBlack);
    s.vpor(0, 1, 0, 1 - 0.05 / page_h);
    s.schr(0.0, page.text_scale() * 1.1);
    s.mtex("t", -1.0, 0.5, 0.5, plain(o.title()).c_str());
  }
  page.finish();
}

void plot_training_curves(const std::string& path, const std::vector<nn::EpochMetrics>& metrics,
                          const PlotOptions& options) {
  const char* fn = "plot_training_curves";
  XG_CHECK(!metrics.empty(), fn, ": no epochs to plot (the metrics are empty) for ",
           in_quotes(path));
  std::vector<double> epoch, train_loss, test_loss, train_acc, test_acc;
  for (const nn::EpochMetrics& m : metrics) {
    epoch.push_back(static_cast<double>(m.epoch));
    train_loss.push_back(m.train_loss);
    test_loss.push_back(m.test_loss);
    train_acc.push_back(100.0 * m.train_acc);
    test_acc.push_back(100.0 * m.test_acc);
  }
  auto present = [](const std::vector<double>& v) {
    return std::any_of(v.begin(), v.end(), [](double a) { return std::isfinite(a); });
  };
  // tab10: loss blue, accuracy orange; train solid, test dashed; dots for short runs.
  const bool dots = metrics.size() <= 30;
  std::vector<Series> series;
  if (present(train_loss))
    series.push_back(Series("train loss", train_loss).color("#1f77b4").markers(dots));
  if (present(test_loss))
    series.push_back(
        Series("test loss", test_loss).color("#1f77b4").style(LineStyle::dashed).markers(dots));
  if (present(train_acc))
    series.push_back(Series("train accuracy", train_acc).color("#ff7f0e").markers(dots).right());
  if (present(test_acc))
    series.push_back(Series("test accuracy", test_acc)
                         .color("#ff7f0e")
                         .style(LineStyle::dashed)
                         .markers(dots)
                         .right());
  XG_CHECK(!series.empty(), fn, ": every loss and accuracy is NaN; nothing to plot to ",
           in_quotes(path));
  PlotOptions o = options;
  if (o.xlabel().empty()) o.xlabel("epoch");
  if (o.ylabel().empty()) o.ylabel("loss");
  if (o.y2label().empty()) o.y2label("accuracy (%)");
  // Errors name this function, then what plot_lines found.
  try {
    plot_lines(path, epoch, series, o);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(fn) + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(fn) + ": " + e.what());
  }
}

void plot_training_curves(const std::string& path, const std::string& metrics_csv,
                          const PlotOptions& options) {
  plot_training_curves(path, read_metrics_csv(metrics_csv), options);
}

// ---------------------------------------------------------------- metrics CSV

namespace {
/// `s` without leading/trailing spaces, tabs and '\r'.
std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream is(line);
  while (std::getline(is, field, ',')) out.push_back(trimmed(field));
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}
}  // namespace

std::vector<nn::EpochMetrics> read_metrics_csv(const std::string& path) {
  const char* fn = "read_metrics_csv";
  std::ifstream in(path);
  if (!in)
    io_fail(std::string(fn) + ": cannot open " + in_quotes(path) + ": " + std::strerror(errno));
  const std::vector<std::string> known = {"epoch",    "train_loss", "train_acc", "test_loss",
                                          "test_acc", "lr",         "seconds"};
  std::string line;
  std::size_t line_no = 0;
  // Header: skip blank lines before it.
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, line)) {
    ++line_no;
    if (!trimmed(line).empty()) header = split_csv(line);
  }
  XG_CHECK(!header.empty(), fn, ": ", in_quotes(path), " is empty (expected the header line \"",
           "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\")");
  std::vector<int> column(header.size(), -1);  // index into `known`
  for (std::size_t c = 0; c < header.size(); ++c) {
    const auto it = std::find(known.begin(), known.end(), header[c]);
    XG_CHECK(it != known.end(), fn, ": ", path, " line ", line_no, ": unknown column ",
             in_quotes(header[c]), " (expected epoch, train_loss, train_acc, test_loss, test_acc,",
             " lr, seconds)");
    const int idx = static_cast<int>(it - known.begin());
    XG_CHECK(std::find(column.begin(), column.end(), idx) == column.end(), fn, ": ", path, " line ",
             line_no, ": column ", in_quotes(header[c]), " appears twice");
    column[c] = idx;
  }
  XG_CHECK(column[0] == 0, fn, ": ", path, " line ", line_no,
           ": the first column must be \"epoch\", got ", in_quotes(header[0]));
  std::vector<nn::EpochMetrics> out;
  while (std::getline(in, line)) {
    ++line_no;
    if (trimmed(line).empty()) continue;
    const std::vector<std::string> fields = split_csv(line);
    XG_CHECK(fields.size() == header.size(), fn, ": ", path, " line ", line_no, ": ", fields.size(),
             " fields but the header has ", header.size());
    nn::EpochMetrics m{0, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
    for (std::size_t c = 0; c < fields.size(); ++c) {
      const std::string& t = fields[c];
      char* end = nullptr;
      errno = 0;
      const double v = t.empty() ? 0.0 : std::strtod(t.c_str(), &end);
      XG_CHECK(!t.empty() && end == t.c_str() + t.size(), fn, ": ", path, " line ", line_no,
               ": column ", in_quotes(header[c]), " holds ", in_quotes(t), ", not a number");
      switch (column[c]) {
        case 0:
          XG_CHECK(std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15, fn, ": ", path,
                   " line ", line_no, ": epoch ", in_quotes(t), " is not an integer");
          m.epoch = static_cast<int64_t>(v);
          break;
        case 1:
          m.train_loss = v;
          break;
        case 2:
          m.train_acc = v;
          break;
        case 3:
          m.test_loss = v;
          break;
        case 4:
          m.test_acc = v;
          break;
        case 5:
          m.lr = v;
          break;
        default:
          m.seconds = v;
          break;
      }
    }
    out.push_back(m);
  }
  XG_CHECK(!in.bad(), fn, ": reading ", path, " failed");
  return out;
}

}  // namespace xg::viz
