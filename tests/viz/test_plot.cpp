// viz/plot: every picture function writes a file of the requested format and size; hostile
// input (empty, mismatched, NaN/inf, bad paths) is a clear error or a correct picture; VTK and
// metrics CSV content read back.
#include <dirent.h>
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nn/train.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

/// A fresh folder under /tmp, removed (with its files) at the end of the test. With
/// XG_PLOT_SAMPLES=dir set, it is made in dir and kept (to look at the pictures).
struct TempDir {
  std::string path;
  bool keep = false;
  TempDir() {
    const char* keep_in = std::getenv("XG_PLOT_SAMPLES");
    keep = keep_in != nullptr;
    std::string tmpl = std::string(keep ? keep_in : "/tmp") + "/xg_plot_XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    if (keep) return;
    for (const std::string& f : files()) std::remove((path + "/" + f).c_str());
    ::rmdir(path.c_str());
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  /// Names of the entries in the folder (hidden ones included, "." and ".." not).
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    return out;
  }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

/// PNG width and height from the IHDR chunk, or {0, 0} if `bytes` is not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  static const std::string sig("\x89PNG\r\n\x1a\n", 8);
  if (bytes.size() < 24 || bytes.compare(0, 8, sig) != 0 || bytes.compare(12, 4, "IHDR") != 0)
    return {0, 0};
  auto be32 = [&](std::size_t at) {
    uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

/// Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what cairo writes) into one grey value
/// (mean of R, G, B) per pixel, row-major; empty if it is not such a PNG.
std::vector<int> png_grey(const std::string& bytes) {
  const auto [w, h] = png_size(bytes);
  if (w == 0 || static_cast<unsigned char>(bytes[24]) != 8 || bytes[28] != 0) return {};
  const int color = bytes[25];
  const std::size_t bpp = color == 6 ? 4 : color == 2 ? 3 : 0;
  if (bpp == 0) return {};
  std::string idat;  // the IDAT chunks' data, concatenated
  for (std::size_t at = 8; at + 8 <= bytes.size();) {
    uint32_t len = 0;
    for (std::size_t i = 0; i < 4; ++i) len = len << 8 | static_cast<unsigned char>(bytes[at + i]);
    if (bytes.compare(at + 4, 4, "IDAT") == 0) idat += bytes.substr(at + 8, len);
    at += 12 + len;
  }
  const std::size_t stride = w * bpp;
  std::vector<unsigned char> raw(h * (stride + 1));
  uLongf n = raw.size();
  if (uncompress(raw.data(), &n, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) !=
          Z_OK ||
      n != raw.size())
    return {};
  std::vector<unsigned char> img(h * stride), zero(stride, 0);
  for (std::size_t r = 0; r < h; ++r) {  // undo the per-row filters (PNG spec, section 9)
    const unsigned char* in = &raw[r * (stride + 1) + 1];
    unsigned char* out = &img[r * stride];
    const unsigned char* up = r ? &img[(r - 1) * stride] : zero.data();
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? out[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
      int pred = 0;
      switch (raw[r * (stride + 1)]) {
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          break;
      }
      out[i] = static_cast<unsigned char>(in[i] + pred);
    }
  }
  std::vector<int> grey(w * h);
  for (std::size_t i = 0; i < grey.size(); ++i)
    grey[i] = (img[i * bpp] + img[i * bpp + 1] + img[i * bpp + 2]) / 3;
  return grey;
}

bool is_svg(const std::string& bytes) {
  return (bytes.rfind("<?xml", 0) == 0 || bytes.rfind("<svg", 0) == 0) &&
         bytes.find("</svg>") != std::string::npos;
}
bool is_pdf(const std::string& bytes) {
  return bytes.rfind("%PDF", 0) == 0 && bytes.find("%%EOF") != std::string::npos;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A small bowl-shaped field on nx x ny points over [-1, 1] x [-1, 0.5]; z row-major.
struct Grid {
  std::vector<double> x, y, z;
  Grid(std::size_t nx = 13, std::size_t ny = 9) {
    for (std::size_t i = 0; i < nx; ++i) x.push_back(-1.0 + 2.0 * i / (nx - 1));
    for (std::size_t j = 0; j < ny; ++j) y.push_back(-1.0 + 1.5 * j / (ny - 1));
    for (double b : y)
      for (double a : x) z.push_back(0.2 + a * a + 2 * b * b + 0.3 * a * b);
  }
};

std::vector<double> range(int n) {
  std::vector<double> v;
  for (int i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("plot_lines writes PNG, SVG and PDF of the requested size, format by extension") {
  TempDir dir;
  const std::vector<double> x = range(8);
  std::vector<double> loss, acc;
  for (double e : x) loss.push_back(2.0 / e), acc.push_back(0.5 + 0.05 * e);
  const std::vector<viz::Series> series = {viz::Series("loss", loss),
                                           viz::Series("accuracy", acc).right().markers(true)};
  const auto opts =
      viz::PlotOptions().title("t").xlabel("epoch").ylabel("loss").y2label("acc").width(640).height(
          480);
  viz::plot_lines(dir / "lines.png", x, series, opts);
  CHECK(png_size(read_all(dir / "lines.png")) == std::pair<uint32_t, uint32_t>{640, 480});
  viz::plot_lines(dir / "lines.svg", x, series, opts);
  CHECK(is_svg(read_all(dir / "lines.svg")));
  viz::plot_lines(dir / "lines.pdf", x, series, opts);
  CHECK(is_pdf(read_all(dir / "lines.pdf")));
  // The extension is case-insensitive; other sizes are honoured.
  viz::plot_lines(dir / "LINES_BIG.PNG", x, series, viz::PlotOptions().width(1000).height(300));
  CHECK(png_size(read_all(dir / "LINES_BIG.PNG")) == std::pair<uint32_t, uint32_t>{1000, 300});
  // A second call replaces the file.
  viz::plot_lines(dir / "lines.png", x, series, viz::PlotOptions().width(320).height(200));
  CHECK(png_size(read_all(dir / "lines.png")) == std::pair<uint32_t, uint32_t>{320, 200});
}

TEST_CASE("plot_lines: log scale, NaN/inf gaps, explicit colours and styles") {
  TempDir dir;
  const std::vector<double> x = range(6);
  // Zeros, negatives, NaN and inf leave gaps on a log axis; the rest is drawn.
  const std::vector<double> y = {1.0, 0.0, -2.0, kNaN, kInf, 0.01};
  viz::plot_lines(dir / "log.png", x,
                  {viz::Series("loss", y).color("#123456").style(viz::LineStyle::dashed),
                   viz::Series("", {1, 2, 3, 4, 5, 6}).style(viz::LineStyle::none)},
                  viz::PlotOptions().log_y(true));
  CHECK(png_size(read_all(dir / "log.png")).first == 800);
  // Many decades, and a log x axis.
  viz::plot_lines(dir / "loglog.svg", {1e-4, 1e-3, 1e-2, 1e-1},
                  {viz::Series("a", {1e3, 1, 1e-3, 1e-6})},
                  viz::PlotOptions().log_y(true).log_x(true));
  CHECK(is_svg(read_all(dir / "loglog.svg")));
  // A series with no positive value cannot be drawn on a log axis: named in the error.
  const std::string e = error_of([&] {
    viz::plot_lines(dir / "bad.png", x, {viz::Series("val loss", {0, -1, 0, -1, 0, kNaN})},
                    viz::PlotOptions().log_y(true));
  });
  CHECK(contains(e, "plot_lines"));
  CHECK(contains(e, "\"val loss\""));
  CHECK(contains(e, "positive"));
  CHECK_FALSE(exists(dir / "bad.png"));
  // All-NaN series: nothing to draw for it, but the picture is still made.
  viz::plot_lines(dir / "nan.png", x, {viz::Series("nan", std::vector<double>(6, kNaN))});
  CHECK(exists(dir / "nan.png"));
  // Bad options.
  CHECK(contains(
      error_of([&] { viz::plot_lines(dir / "c.png", x, {viz::Series("s", y).color("blue")}); }),
      "\"#rrggbb\""));
  CHECK(contains(error_of([&] {
                   viz::plot_lines(dir / "c.png", {-1.0, 1.0}, {viz::Series("s", {1, 2})},
                                   viz::PlotOptions().log_x(true));
                 }),
                 "log_x needs positive x"));
  CHECK(contains(error_of([&] {
                   viz::plot_lines(dir / "c.png", x, {viz::Series("s", y)},
                                   viz::PlotOptions().ymin(0).ymax(-1));
                 }),
                 "left y range"));
}

TEST_CASE("plot_lines: empty and mismatched input, bad sizes") {
  TempDir dir;
  const std::string p = dir / "x.png";
  std::string e = error_of([&] { viz::plot_lines(p, {}, {viz::Series("a", {})}); });
  CHECK(contains(e, "plot_lines: x is empty"));
  e = error_of([&] { viz::plot_lines(p, {1, 2}, {}); });
  CHECK(contains(e, "no series"));
  e = error_of([&] { viz::plot_lines(p, {1, 2, 3, 4}, {viz::Series("train", {1, 2, 3})}); });
  CHECK(contains(e, "series \"train\" has 3 values but x has 4"));
  e = error_of([&] { viz::plot_lines(p, {1, kNaN}, {viz::Series("a", {1, 2})}); });
  CHECK(contains(e, "x[1] = nan is not finite"));
  e = error_of([&] {
    viz::plot_lines(p, {1, 2}, {viz::Series("a", {1, 2})}, viz::PlotOptions().width(50));
  });
  CHECK(contains(e, "50 x 600"));
  e = error_of([&] {
    viz::plot_lines(p, {1, 2}, {viz::Series("a", {1, 2})}, viz::PlotOptions().height(100000));
  });
  CHECK(contains(e, "outside [100, 8000]"));
  // Finite values whose range overflows a double: refused, not drawn as garbage.
  const double big = std::numeric_limits<double>::max();
  e = error_of([&] { viz::plot_lines(p, {1, 2}, {viz::Series("a", {-big, big})}); });
  CHECK(contains(e, "span more than a double can hold"));
  e = error_of([&] { viz::plot_contour(p, {0, 1}, {0, 1}, {-big, big, 0, 0}); });
  CHECK(contains(e, "span more than a double can hold"));
  e = error_of([&] { viz::plot_surface(p, {-big, big}, {0, 1}, {0, 1, 2, 3}); });
  CHECK(contains(e, "span more than a double can hold"));
  CHECK(dir.files().empty());
}

TEST_CASE("plot functions: unknown extension, unwritable path, failed calls leave no file") {
  TempDir dir;
  const std::vector<double> x = {1, 2, 3};
  const std::vector<viz::Series> s = {viz::Series("a", {1, 2, 3})};
  std::string e = error_of([&] { viz::plot_lines(dir / "plot.jpg", x, s); });
  CHECK(contains(e, "plot_lines"));
  CHECK(contains(e, dir / "plot.jpg"));
  CHECK(contains(e, ".jpg"));
  CHECK(contains(e, ".png, .svg or .pdf"));
  e = error_of([&] { viz::plot_lines(dir / "plot", x, s); });
  CHECK(contains(e, "no extension"));
  const std::string missing = dir / "no_such_folder/plot.png";
  e = error_of([&] { viz::plot_lines(missing, x, s); });
  CHECK(contains(e, "cannot write"));
  CHECK(contains(e, missing));
  e = error_of([&] { viz::plot_lines(dir.path + "/", x, s); });
  CHECK(contains(e, "names a folder"));
  e = error_of([&] { viz::plot_lines("", x, s); });
  CHECK(contains(e, "path is empty"));
  Grid g;
  e = error_of([&] { viz::plot_contour(dir / "c.gif", g.x, g.y, g.z); });
  CHECK(contains(e, "plot_contour"));
  CHECK(contains(e, ".gif"));
  e = error_of([&] { viz::write_vtk(dir / "nope/s.vtk", g.x, g.y, g.z); });
  CHECK(contains(e, "write_vtk"));
  CHECK(contains(e, "nope/s.vtk"));
  CHECK(dir.files().empty());  // no temporary file left behind

  // A failing call keeps the previous picture.
  viz::plot_lines(dir / "keep.png", x, s);
  const std::string before = read_all(dir / "keep.png");
  CHECK(contains(error_of([&] { viz::plot_lines(dir / "keep.png", {1, 2}, s); }), "but x has 2"));
  CHECK(read_all(dir / "keep.png") == before);
  CHECK(dir.files().size() == 1);
}

TEST_CASE("plot_contour: lines, filled, heatmap, log levels, trajectory; every format") {
  TempDir dir;
  Grid g;
  std::vector<double> tx = {0.8, 0.5, 0.2, 0.05}, ty = {0.4, 0.1, -0.1, -0.05};
  viz::plot_contour(dir / "contour.png", g.x, g.y, g.z,
                    viz::ContourOptions()
                        .title("landscape")
                        .xlabel("1st PC: 85.31 %")
                        .ylabel("2nd PC: 10.02 %")
                        .trajectory(tx, ty)
                        .trajectory_labels({"1", "", "3", "4"})
                        .width(500)
                        .height(400));
  CHECK(png_size(read_all(dir / "contour.png")) == std::pair<uint32_t, uint32_t>{500, 400});
  viz::plot_contour(dir / "filled.svg", g.x, g.y, g.z,
                    viz::ContourOptions().filled(true).contour_lines(true).zlabel("loss"));
  CHECK(is_svg(read_all(dir / "filled.svg")));
  viz::plot_contour(dir / "heat.pdf", g.x, g.y, g.z,
                    viz::ContourOptions().heatmap(true).zlabel("loss").trajectory(tx, ty));
  CHECK(is_pdf(read_all(dir / "heat.pdf")));
  // Log levels (auto range and an explicit one), the paper's vmin/vmax/vlevel, explicit levels.
  viz::plot_contour(dir / "log.png", g.x, g.y, g.z,
                    viz::ContourOptions().filled(true).log_levels(true));
  viz::plot_contour(dir / "logheat.png", g.x, g.y, g.z,
                    viz::ContourOptions().heatmap(true).log_levels(true).vmin(0.1).vmax(10));
  viz::plot_contour(dir / "paper.png", g.x, g.y, g.z,
                    viz::ContourOptions().vmin(0.1).vmax(10).level_step(0.5));
  viz::plot_contour(dir / "levels.png", g.x, g.y, g.z,
                    viz::ContourOptions().level_values({0.5, 1, 2}).filled(true));
  for (const char* f : {"log.png", "logheat.png", "paper.png", "levels.png"})
    CHECK(png_size(read_all(dir / f)).first == 800);
  // A constant field still draws (the range is widened).
  std::vector<double> flat(g.z.size(), 1.5);
  viz::plot_contour(dir / "flat.png", g.x, g.y, flat, viz::ContourOptions().heatmap(true));
  CHECK(exists(dir / "flat.png"));
}

TEST_CASE("plot_contour and plot_surface: NaN/inf values are masked, never a crash") {
  TempDir dir;
  Grid g;
  std::vector<double> z = g.z;
  z[0] = kNaN;
  z[5] = kInf;
  z[20] = -kInf;
  for (std::size_t i = 0; i < 13; ++i) z[13 * 8 + i] = kNaN;  // a whole diverged row
  viz::plot_contour(dir / "nan_lines.png", g.x, g.y, z);
  viz::plot_contour(dir / "nan_filled.png", g.x, g.y, z,
                    viz::ContourOptions().filled(true).contour_lines(true));
  viz::plot_contour(dir / "nan_heat.png", g.x, g.y, z,
                    viz::ContourOptions().heatmap(true).log_levels(true));
  viz::plot_surface(dir / "nan_surface.png", g.x, g.y, z);
  viz::plot_surface(dir / "nan_surface_log.png", g.x, g.y, z,
                    viz::SurfaceOptions().log_z(true).zmax(2).mesh(false));
  for (const char* f : {"nan_lines.png", "nan_filled.png", "nan_heat.png", "nan_surface.png",
                        "nan_surface_log.png"})
    CHECK(png_size(read_all(dir / f)) == std::pair<uint32_t, uint32_t>{800, 650});
  // Nothing finite at all: an error, for each function.
  const std::vector<double> all_nan(g.z.size(), kNaN);
  CHECK(contains(error_of([&] { viz::plot_contour(dir / "n.png", g.x, g.y, all_nan); }),
                 "no finite value"));
  CHECK(contains(error_of([&] { viz::plot_surface(dir / "n.png", g.x, g.y, all_nan); }),
                 "no finite value"));
  CHECK(contains(error_of([&] { viz::write_vtk(dir / "n.vtk", g.x, g.y, all_nan); }),
                 "no finite value"));
  // Log levels need something positive.
  std::vector<double> negative(g.z.size(), -1.0);
  CHECK(contains(error_of([&] {
                   viz::plot_contour(dir / "n.png", g.x, g.y, negative,
                                     viz::ContourOptions().log_levels(true));
                 }),
                 "log_levels needs vmin > 0"));
}

TEST_CASE("plot_contour and plot_surface: mismatched and invalid grids name the sizes") {
  TempDir dir;
  Grid g(4, 3);
  std::string e =
      error_of([&] { viz::plot_contour(dir / "c.png", g.x, g.y, std::vector<double>(11, 1.0)); });
  CHECK(contains(e, "plot_contour: z has 11 values"));
  CHECK(contains(e, "3 x 4 = 12"));
  e = error_of([&] { viz::plot_surface(dir / "s.png", g.x, g.y, std::vector<double>(13, 1.0)); });
  CHECK(contains(e, "plot_surface: z has 13 values"));
  e = error_of([&] { viz::plot_contour(dir / "c.png", {}, {}, {}); });
  CHECK(contains(e, "x needs at least 2 grid values, got 0"));
  e = error_of([&] { viz::plot_contour(dir / "c.png", {0, 1}, {0}, {1, 2}); });
  CHECK(contains(e, "y needs at least 2 grid values, got 1"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", {0, 2, 1}, {0, 1}, std::vector<double>(6));
  });
  CHECK(contains(e, "strictly increasing"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().trajectory({1, 2}, {1}));
  });
  CHECK(contains(e, "trajectory_x has 2 points but trajectory_y has 1"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z,
                      viz::ContourOptions().trajectory({1, 2}, {1, 2}).trajectory_labels({"a"}));
  });
  CHECK(contains(e, "trajectory_labels has 1 labels but the trajectory has 2 points"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z,
                      viz::ContourOptions().trajectory({kNaN}, {0.0}));
  });
  CHECK(contains(e, "trajectory point 0"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().vmin(2).vmax(1));
  });
  CHECK(contains(e, "vmin (2) must be below vmax (1)"));
  e = error_of(
      [&] { viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().levels(1)); });
  CHECK(contains(e, "levels must be in [2, 200]"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().level_values({1, 1}));
  });
  CHECK(contains(e, "strictly increasing"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z,
                      viz::ContourOptions().vmin(0).vmax(1).level_step(1.5));
  });
  CHECK(contains(e, "level_step 1.5 gives 1 levels over [0, 1]"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z,
                      viz::ContourOptions().level_step(0.5).log_levels(true));
  });
  CHECK(contains(e, "cannot be combined with log_levels"));
  e = error_of([&] {
    viz::plot_surface(dir / "s.png", g.x, g.y, g.z, viz::SurfaceOptions().altitude(120));
  });
  CHECK(contains(e, "altitude must be in [0, 90]"));
  CHECK(dir.files().empty());
}

TEST_CASE("plot_surface: PNG, SVG and PDF with view angles") {
  TempDir dir;
  Grid g;
  viz::plot_surface(dir / "surface.png", g.x, g.y, g.z,
                    viz::SurfaceOptions().title("surface").xlabel("x").ylabel("y").zlabel("loss"));
  CHECK(png_size(read_all(dir / "surface.png")) == std::pair<uint32_t, uint32_t>{800, 650});
  viz::plot_surface(dir / "surface.svg", g.x, g.y, g.z,
                    viz::SurfaceOptions().altitude(60).azimuth(-30).colorbar(false));
  CHECK(is_svg(read_all(dir / "surface.svg")));
  viz::plot_surface(dir / "surface.pdf", g.x, g.y, g.z);
  CHECK(is_pdf(read_all(dir / "surface.pdf")));
}

TEST_CASE("write_vtk: a STRUCTURED_GRID with the loss as height and point scalar") {
  TempDir dir;
  Grid g(3, 2);
  std::vector<double> z = g.z;
  z[4] = kNaN;
  viz::write_vtk(dir / "surface.vtk", g.x, g.y, z, "train_loss");
  std::istringstream in(read_all(dir / "surface.vtk"));
  std::string line, word;
  std::getline(in, line);
  CHECK(line == "# vtk DataFile Version 3.0");
  std::getline(in, line);  // title
  std::getline(in, line);
  CHECK(line == "ASCII");
  std::getline(in, line);
  CHECK(line == "DATASET STRUCTURED_GRID");
  std::size_t nx = 0, ny = 0, nz = 0, n = 0;
  std::string type;
  in >> word >> nx >> ny >> nz;
  CHECK(word == "DIMENSIONS");
  CHECK((nx == 3 && ny == 2 && nz == 1));
  in >> word >> n >> type;
  CHECK(word == "POINTS");
  REQUIRE(n == 6);
  double max_finite = 0;
  for (double v : z)
    if (std::isfinite(v)) max_finite = std::max(max_finite, v);
  std::vector<double> heights;
  for (std::size_t k = 0; k < n; ++k) {
    double px, py, pz;
    in >> px >> py >> pz;
    CHECK(px == doctest::Approx(g.x[k % 3]));  // x fastest, as z is stored
    CHECK(py == doctest::Approx(g.y[k / 3]));
    CHECK(pz == doctest::Approx(std::isfinite(z[k]) ? z[k] : max_finite));
    heights.push_back(pz);
  }
  in >> word >> n;
  CHECK(word == "POINT_DATA");
  CHECK(n == 6);
  std::string name, lookup, def;
  int comps = 0;
  in >> word >> name >> type >> comps >> lookup >> def;
  CHECK(word == "SCALARS");
  CHECK(name == "train_loss");
  CHECK(comps == 1);
  for (std::size_t k = 0; k < n; ++k) {
    double v;
    in >> v;
    CHECK(v == doctest::Approx(heights[k]));
  }
  in >> word >> name >> type >> comps >> lookup >> def;
  CHECK(name == "finite");
  for (std::size_t k = 0; k < n; ++k) {
    int f = -1;
    in >> f;
    CHECK(f == (k == 4 ? 0 : 1));
  }
  CHECK(in);

  // zmax clipping and log(z + 0.1), as h52vtp.
  viz::write_vtk(dir / "log.vtk", g.x, g.y, g.z, viz::VtkOptions().zmax(1.0).log(true));
  const std::string text = read_all(dir / "log.vtk");
  CHECK(contains(text, "SCALARS loss double 1"));
  std::istringstream scalars(text.substr(text.find("LOOKUP_TABLE default") + 21));
  for (double v : g.z) {
    double got;
    scalars >> got;
    CHECK(got == doctest::Approx(std::log(std::min(v, 1.0) + 0.1)));
  }
  CHECK(contains(error_of([&] { viz::write_vtk(dir / "b.vtk", g.x, g.y, g.z, "bad name"); }),
                 "field_name \"bad name\""));
  CHECK(contains(error_of([&] {
                   viz::write_vtk(dir / "b.vtk", g.x, g.y, {1, 2});
                 }),
                 "write_vtk: z has 2 values"));
}

TEST_CASE("training curves: metrics CSV round trip with nn::write_metrics_csv, and pictures") {
  TempDir dir;
  std::vector<nn::EpochMetrics> metrics;
  for (int e = 1; e <= 5; ++e)
    metrics.push_back({e, 1.0 / e, 0.5 + 0.08 * e, 1.1 / e, 0.48 + 0.08 * e, 0.1 / e, 0.25 * e});
  metrics[2].test_loss = kNaN;
  nn::write_metrics_csv(metrics, dir / "metrics.csv");
  const std::vector<nn::EpochMetrics> back = viz::read_metrics_csv(dir / "metrics.csv");
  REQUIRE(back.size() == metrics.size());
  auto same = [](double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || a == doctest::Approx(b).epsilon(1e-9);
  };
  for (std::size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].epoch == metrics[i].epoch);
    CHECK(same(back[i].train_loss, metrics[i].train_loss));
    CHECK(same(back[i].train_acc, metrics[i].train_acc));
    CHECK(same(back[i].test_loss, metrics[i].test_loss));
    CHECK(same(back[i].test_acc, metrics[i].test_acc));
    CHECK(same(back[i].lr, metrics[i].lr));
    CHECK(same(back[i].seconds, metrics[i].seconds));
  }
  viz::plot_training_curves(dir / "curves.png", metrics, viz::PlotOptions().title("run"));
  CHECK(png_size(read_all(dir / "curves.png")) == std::pair<uint32_t, uint32_t>{800, 600});
  viz::plot_training_curves(dir / "curves_csv.svg", dir / "metrics.csv");
  CHECK(is_svg(read_all(dir / "curves_csv.svg")));
  // Without a test loader (test columns NaN) and without accuracies: fewer curves, still a plot.
  for (auto& m : metrics) m.test_loss = m.test_acc = m.train_acc = kNaN;
  viz::plot_training_curves(dir / "train_only.pdf", metrics);
  CHECK(is_pdf(read_all(dir / "train_only.pdf")));
  CHECK(contains(
      error_of([&] { viz::plot_training_curves(dir / "e.png", std::vector<nn::EpochMetrics>{}); }),
      "no epochs to plot"));
}

TEST_CASE("read_metrics_csv: malformed files name the file and the line") {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const std::string header = "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n";
  std::string p =
      write("bad_number.csv", header + "1,0.5,0.8,nan,nan,0.1,1\n2,0.4,abc,nan,nan,0.1,1\n");
  std::string e = error_of([&] { viz::read_metrics_csv(p); });
  CHECK(contains(e, "read_metrics_csv"));
  CHECK(contains(e, p + " line 3"));
  CHECK(contains(e, "\"abc\""));
  p = write("fields.csv", header + "1,0.5,0.8\n");
  e = error_of([&] { viz::read_metrics_csv(p); });
  CHECK(contains(e, p + " line 2: 3 fields but the header has 7"));
  p = write("column.csv", "epoch,loss\n1,2\n");
  CHECK(contains(error_of([&] { viz::read_metrics_csv(p); }), "unknown column \"loss\""));
  p = write("twice.csv", "epoch,lr,lr\n1,2,3\n");
  CHECK(contains(error_of([&] { viz::read_metrics_csv(p); }), "appears twice"));
  p = write("first.csv", "lr,epoch\n1,2\n");
  CHECK(contains(error_of([&] { viz::read_metrics_csv(p); }), "first column must be \"epoch\""));
  p = write("epoch.csv", "epoch,lr\n1.5,2\n");
  CHECK(contains(error_of([&] { viz::read_metrics_csv(p); }), "line 2: epoch \"1.5\""));
  p = write("empty.csv", "");
  CHECK(contains(error_of([&] { viz::read_metrics_csv(p); }), "is empty"));
  CHECK(contains(error_of([&] { viz::read_metrics_csv(dir / "missing.csv"); }), "cannot open"));
  CHECK(contains(error_of([&] { viz::plot_training_curves(dir / "x.png", p); }), p));
  // A subset of columns in another order, CRLF line ends: fine, missing columns are NaN.
  p = write("subset.csv", "epoch,test_acc,train_loss\r\n1,0.5,2.0\r\n2,0.6,1.5\r\n");
  const auto m = viz::read_metrics_csv(p);
  REQUIRE(m.size() == 2);
  CHECK(m[1].epoch == 2);
  CHECK(m[1].test_acc == 0.6);
  CHECK(m[1].train_loss == 1.5);
  CHECK(std::isnan(m[1].lr));
}

TEST_CASE("plots from several threads at once are serialized and all complete") {
  TempDir dir;
  Grid g(9, 7);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      viz::plot_contour(dir / ("c" + std::to_string(t) + ".png"), g.x, g.y, g.z,
                        viz::ContourOptions().filled(true).width(300).height(250));
      viz::plot_lines(dir / ("l" + std::to_string(t) + ".svg"), {1, 2, 3},
                      {viz::Series("a", {1, 2, 3})});
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 3; ++t) {
    CHECK(png_size(read_all(dir / ("c" + std::to_string(t) + ".png"))) ==
          std::pair<uint32_t, uint32_t>{300, 250});
    CHECK(is_svg(read_all(dir / ("l" + std::to_string(t) + ".svg"))));
  }
}

TEST_CASE("plot_contour: scatter points coloured by class over a heatmap; bad points named") {
  TempDir dir;
  Grid g;
  const std::vector<double> px = {0.5, -0.5, 0.2, 5.0}, py = {0.5, -0.5, -0.3, 5.0};  // last: off
  viz::plot_contour(dir / "plain.png", g.x, g.y, g.z, viz::ContourOptions().heatmap(true));
  viz::plot_contour(dir / "points.png", g.x, g.y, g.z,
                    viz::ContourOptions().heatmap(true).points(px, py, {0, 1, 1, 0}));
  viz::plot_contour(dir / "one.svg", g.x, g.y, g.z, viz::ContourOptions().points(px, py));
  CHECK(png_size(read_all(dir / "points.png")).first == 800);
  CHECK(read_all(dir / "points.png") != read_all(dir / "plain.png"));  // the dots were drawn
  CHECK(is_svg(read_all(dir / "one.svg")));
  std::string e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().points({1, 2}, {1}));
  });
  CHECK(contains(e, "points_x has 2 points but points_y has 1"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z,
                      viz::ContourOptions().points({1, 2}, {1, 2}, {0}));
  });
  CHECK(contains(e, "points_class has 1 classes but there are 2 points"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().points({kNaN}, {0}));
  });
  CHECK(contains(e, "point 0 (nan, 0) is not finite"));
  e = error_of([&] {
    viz::plot_contour(dir / "c.png", g.x, g.y, g.z, viz::ContourOptions().points({0}, {0}, {-1}));
  });
  CHECK(contains(e, "point 0 has class -1"));
  CHECK(dir.files().size() == 3);  // no picture from the failed calls
}

TEST_CASE("plot_images: a grid of small images with captions; bad sizes named") {
  TempDir dir;
  std::vector<std::vector<double>> images;
  for (int k = 0; k < 5; ++k) {  // 4 x 3 images: a ramp, a sign pattern, a constant one
    std::vector<double> im(12);
    for (int i = 0; i < 12; ++i) im[i] = k == 4 ? 1.0 : (k % 2 ? -1 : 1) * (i - 5.5) * (k + 1);
    images.push_back(im);
  }
  viz::plot_images(dir / "grid.png", images, 4, 3,
                   viz::ImageGridOptions().cols(3).symmetric(true).title("weights").titles(
                       {"a", "b", "c", "d", "const"}));
  const auto size = png_size(read_all(dir / "grid.png"));
  CHECK(size.first == 900);
  CHECK(size.second > 900);  // 2 rows of 4 x 3 images (taller than wide), captions and a title
  viz::plot_images(dir / "grey.svg", images, 4, 3);  // about square: 3 columns, greys
  CHECK(is_svg(read_all(dir / "grey.svg")));
  std::string e = error_of([&] { viz::plot_images(dir / "x.png", images, 3, 3); });
  CHECK(contains(e, "plot_images: image 0 has 12 values, expected 3 x 3 = 9"));
  e = error_of([&] { viz::plot_images(dir / "x.png", {}, 3, 3); });
  CHECK(contains(e, "no images"));
  e = error_of([&] {
    viz::plot_images(dir / "x.png", images, 4, 3, viz::ImageGridOptions().titles({"a"}));
  });
  CHECK(contains(e, "titles has 1 entries for 5 images"));
  images[2][7] = kNaN;
  e = error_of([&] { viz::plot_images(dir / "x.png", images, 4, 3); });
  CHECK(contains(e, "image 2 has a non-finite value"));
  CHECK(dir.files().size() == 2);
}

TEST_CASE("plot_images: every value gets its own cell (a 1 x 2 image is half black, half white)") {
  TempDir dir;
  // One image of 1 row and 2 pixels, 0 and 1 on a grey scale: the left half of the panel must
  // be black and the right half white. (Drawn as samples at grid points, PLplot would spread
  // 1 x 2 values over 0 x 1 cells and draw nothing.)
  viz::plot_images(dir / "two.png", {{0.0, 1.0}}, 1, 2, viz::ImageGridOptions().width(400));
  const std::vector<int> grey = png_grey(read_all(dir / "two.png"));
  const auto [w, h] = png_size(read_all(dir / "two.png"));
  REQUIRE(grey.size() == std::size_t(w) * h);
  std::size_t black = 0;
  for (int v : grey) black += v < 40;
  // The panel is about 400 x 200 pixels: half of it black is ~40,000 pixels; the frame alone
  // is well under 2,000.
  CHECK(black > 10000);
  // Along the middle row: black on the left of the centre, white on the right.
  const std::size_t mid = std::size_t(h) / 2;
  CHECK(grey[mid * w + w / 4] < 40);
  CHECK(grey[mid * w + 3 * w / 4] > 215);
}
