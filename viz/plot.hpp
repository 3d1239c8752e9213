#pragma once
// Pictures: 1D curves on one or two y axes, 2D contour lines / filled contours / heatmaps with a
// colour bar and an optional trajectory overlay, 3D surfaces, VTK surfaces for ParaView and
// training curves (loss and accuracy per epoch). Rendered in-process with PLplot's cairo
// devices; the format follows the path's extension: .png, .svg or .pdf.
//
//   viz::plot_lines("loss.png", alphas, {viz::Series("train loss", loss),
//                                        viz::Series("train accuracy", acc).right()},
//                   viz::PlotOptions().xlabel("alpha").ylabel("loss").y2label("accuracy"));
//   viz::plot_contour("landscape.png", xs, ys, losses,            // losses: ys.size() x xs.size()
//                     viz::ContourOptions().filled(true).trajectory(px, py));
//   viz::plot_training_curves("curves.png", history);             // nn::fit's return value
//
// All inputs are plain std::vector<double>; a 2D field z over grid vectors x (nx values) and y
// (ny values) is row-major: z[j * nx + i] = f(x[i], y[j]) (row j is one y value, as NumPy's
// meshgrid and the loss-landscape paper's surfaces store it).
//
// Every function writes its file atomically (a temporary file in the same folder renamed over
// the path), so a failed or interrupted call never leaves a partial picture and keeps any
// previous file. Errors are exceptions naming the function and the path, size or value involved:
// std::invalid_argument for bad arguments (empty or mismatched inputs, unknown extension, bad
// options), std::runtime_error for I/O and rendering failures. PLplot is not thread-safe: calls
// from several threads are serialized by one lock, and PLplot's own error exits are turned into
// exceptions.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "autograd/arg.hpp"
#include "nn/train.hpp"

namespace xg::viz {

/// The y axis a Series is drawn against in plot_lines.
enum class YAxis { left, right };

/// How a Series' line is drawn.
enum class LineStyle { solid, dashed, dotted, none };

/// One curve of plot_lines: y values at the plot's x values (same length), a legend label, an
/// axis, a colour and a style. Non-finite y values (NaN, inf) leave a gap in the curve.
struct Series {
  /// A curve with legend text `label` (empty: not in the legend) and values `y`.
  Series(std::string label, std::vector<double> y) : label_(std::move(label)), y_(std::move(y)) {}
  /// Draws the curve against the right y axis (PlotOptions::y2label), e.g. accuracy next to loss.
  Series& right() { return axis_ = YAxis::right, *this; }
  /// Legend text.
  XG_ARG(std::string, label);
  /// Values, one per x value.
  XG_ARG(std::vector<double>, y);
  /// YAxis::left (default) or YAxis::right.
  XG_ARG(YAxis, axis) = YAxis::left;
  /// Colour as "#rrggbb"; empty (default): the next colour of a 10-colour palette (matplotlib's
  /// tab10 order: blue, orange, green, red, ...).
  XG_ARG(std::string, color);
  /// Line style (default solid; none draws markers only and forces markers on).
  XG_ARG(LineStyle, style) = LineStyle::solid;
  /// Draw a dot at every point (default false).
  XG_ARG(bool, markers) = false;
  /// Line width in points (default 2; > 0).
  XG_ARG(double, width) = 2.0;
};

/// Options of plot_lines (and the page options shared by every picture).
struct PlotOptions {
  /// Title above the plot (empty: none).
  XG_ARG(std::string, title);
  /// Label of the x axis.
  XG_ARG(std::string, xlabel);
  /// Label of the left y axis.
  XG_ARG(std::string, ylabel);
  /// Label of the right y axis (used when a Series is on YAxis::right).
  XG_ARG(std::string, y2label);
  /// Logarithmic left y axis. Non-positive left values cannot be drawn and leave gaps; a left
  /// series with no positive value at all is an error naming the series.
  XG_ARG(bool, log_y) = false;
  /// Logarithmic x axis (x values must all be > 0).
  XG_ARG(bool, log_x) = false;
  /// Left y axis range [ymin, ymax]; NaN (default): from the data (with a small margin).
  XG_ARG(double, ymin) = std::numeric_limits<double>::quiet_NaN();
  XG_ARG(double, ymax) = std::numeric_limits<double>::quiet_NaN();
  /// Right y axis range; NaN (default): from the data.
  XG_ARG(double, y2min) = std::numeric_limits<double>::quiet_NaN();
  XG_ARG(double, y2max) = std::numeric_limits<double>::quiet_NaN();
  /// Draw a legend (default true; only series with a label appear).
  XG_ARG(bool, legend) = true;
  /// Draw grid lines at the major ticks (default true).
  XG_ARG(bool, grid) = true;
  /// Picture size in pixels for PNG, in points (1/72 inch) for SVG and PDF; each within
  /// [100, 8000] (default 800 x 600).
  XG_ARG(int64_t, width) = 800;
  XG_ARG(int64_t, height) = 600;
  /// Multiplies every text size (default 1; within (0, 10]). Text scales with the picture's
  /// smaller side, so the default reads well at any size.
  XG_ARG(double, font_scale) = 1.0;
};

/// Draws curves y(x) of `series` (each as long as `x`) on a left and an optional right y axis,
/// with a legend and grid lines, to `path` (.png, .svg or .pdf). `x` must be non-empty and
/// finite; series values may contain NaN/inf (gaps).
/// Throws naming the series and both sizes when a series' length differs from x's.
void plot_lines(const std::string& path, const std::vector<double>& x,
                const std::vector<Series>& series, const PlotOptions& options = {});

/// Options of plot_contour.
struct ContourOptions {
  /// Title above the plot.
  XG_ARG(std::string, title);
  /// Axis labels (trajectory plots put the explained-variance ratios here, e.g.
  /// "1st PC: 85.31 %").
  XG_ARG(std::string, xlabel);
  XG_ARG(std::string, ylabel);
  /// Label of the colour bar (e.g. "loss").
  XG_ARG(std::string, zlabel);
  /// Filled contours (one colour per band between levels) instead of contour lines.
  XG_ARG(bool, filled) = false;
  /// A shaded image (one colour per grid cell, continuous colour map) instead of contours (with
  /// filled() too, the heatmap wins).
  XG_ARG(bool, heatmap) = false;
  /// Also draw thin dark contour lines over filled contours or a heatmap (default false; the
  /// plain contour plot is made of lines, coloured by level).
  XG_ARG(bool, contour_lines) = false;
  /// Numeric labels on the contour lines (default true).
  XG_ARG(bool, labels) = true;
  /// About how many contour levels (default 15; within [2, 200]): with vmin and vmax from the
  /// data, round levels (steps 1, 2, 2.5 or 5 times a power of 10; 1-2-5 per decade with
  /// log_levels) covering the data, at most levels() + 1; with vmin or vmax given, exactly
  /// levels() levels evenly (log: geometrically) spaced from vmin to vmax. Ignored when
  /// level_step() or level_values() is given.
  XG_ARG(int64_t, levels) = 15;
  /// Levels vmin, vmin + step, ... below vmax, as the paper's arange(vmin, vmax, vlevel)
  /// (0 = use levels()).
  XG_ARG(double, level_step) = 0.0;
  /// Explicit increasing levels (override levels() and level_step()).
  XG_ARG(std::vector<double>, level_values);
  /// Log-spaced levels and a logarithmic colour scale (needs vmin > 0; non-positive values are
  /// drawn like values below vmin).
  XG_ARG(bool, log_levels) = false;
  /// Colour range; NaN (default): the finite minimum / maximum of z. Values above vmax are
  /// drawn in the top colour (filled, heatmap) and values below vmin in the bottom colour, as
  /// the paper's plots clip at vmin/vmax.
  XG_ARG(double, vmin) = std::numeric_limits<double>::quiet_NaN();
  XG_ARG(double, vmax) = std::numeric_limits<double>::quiet_NaN();
  /// Draw a colour bar (default true; filled contours and heatmaps only, as the lines carry
  /// labels).
  XG_ARG(bool, colorbar) = true;
  /// Trajectory overlay: points (trajectory_x[k], trajectory_y[k]) drawn as a path with markers
  /// (start: open circle, end: filled star), e.g. a training run projected on the plane.
  XG_ARG(std::vector<double>, trajectory_x);
  XG_ARG(std::vector<double>, trajectory_y);
  /// Text next to trajectory points (e.g. epoch numbers): empty, or one string per point (empty
  /// strings are skipped).
  XG_ARG(std::vector<std::string>, trajectory_labels);
  /// Scatter overlay: points (points_x[k], points_y[k]) drawn as dots with a dark rim, coloured
  /// by points_class[k] (an index into the 10-colour palette; empty: all the first colour), e.g.
  /// a classifier's data over its predicted probability. Points outside the grid are clipped.
  XG_ARG(std::vector<double>, points_x);
  XG_ARG(std::vector<double>, points_y);
  XG_ARG(std::vector<int64_t>, points_class);

 public:
  /// Sets trajectory_x and trajectory_y.
  ContourOptions& trajectory(std::vector<double> xs, std::vector<double> ys) {
    trajectory_x_ = std::move(xs);
    trajectory_y_ = std::move(ys);
    return *this;
  }
  /// Sets points_x, points_y and points_class (empty: one colour).
  ContourOptions& points(std::vector<double> xs, std::vector<double> ys,
                         std::vector<int64_t> classes = {}) {
    points_x_ = std::move(xs);
    points_y_ = std::move(ys);
    points_class_ = std::move(classes);
    return *this;
  }
  /// Picture size (see PlotOptions::width) and text scale.
  XG_ARG(int64_t, width) = 800;
  XG_ARG(int64_t, height) = 650;
  XG_ARG(double, font_scale) = 1.0;
};

/// Draws the 2D field `z` (row-major, y.size() rows of x.size() values: z[j * nx + i] =
/// f(x[i], y[j])) over the grid `x` (nx >= 2 values) x `y` (ny >= 2), strictly increasing and
/// finite, as contour lines (default), filled contours or a heatmap, with a colour bar and
/// optional trajectory and scatter overlays, to `path` (.png, .svg or .pdf).
///
/// Non-finite z (diverged losses: NaN, +inf, -inf) never crash: each such grid cell is masked,
/// painted light grey over the picture (underneath, the contours are computed with it filled in
/// from its finite neighbours, so that no lines bunch up around it), and a note under the plot
/// says how many were masked. A field with no finite value at all is an error.
void plot_contour(const std::string& path, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<double>& z,
                  const ContourOptions& options = {});

/// Options of plot_surface.
struct SurfaceOptions {
  /// Title above the plot and axis labels.
  XG_ARG(std::string, title);
  XG_ARG(std::string, xlabel);
  XG_ARG(std::string, ylabel);
  XG_ARG(std::string, zlabel);
  /// Viewing altitude (degrees above the xy plane, within [0, 90]; default 35) and azimuth
  /// (degrees, rotation about z; default 45).
  XG_ARG(double, altitude) = 35.0;
  XG_ARG(double, azimuth) = 45.0;
  /// Clip values above zmax (the paper's h52vtp `zmax`; NaN = no clipping), so that the steep
  /// rim of a landscape does not flatten its basin.
  XG_ARG(double, zmax) = std::numeric_limits<double>::quiet_NaN();
  /// Plot log10(z) (non-positive values are raised to the smallest positive value).
  XG_ARG(bool, log_z) = false;
  /// Draw the grid lines on the surface (default true).
  XG_ARG(bool, mesh) = true;
  /// Draw a colour bar (default true).
  XG_ARG(bool, colorbar) = true;
  /// Picture size and text scale (see PlotOptions).
  XG_ARG(int64_t, width) = 800;
  XG_ARG(int64_t, height) = 650;
  XG_ARG(double, font_scale) = 1.0;
};

/// Draws the 2D field `z` (row-major as in plot_contour) as a 3D surface coloured by height with
/// a colour map, to `path` (.png, .svg or .pdf). Non-finite values are shown at the top of the
/// z range (NaN, +inf) or the bottom (-inf), with a note under the plot.
void plot_surface(const std::string& path, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<double>& z,
                  const SurfaceOptions& options = {});

/// Options of write_vtk. Converts from a field name: write_vtk(path, x, y, z, "train_loss").
struct VtkOptions {
  /// The point scalar's name (default "loss"); letters, digits, '_', '-', '.' only.
  VtkOptions(std::string field_name = "loss")  // NOLINT: implicit, for the short form
      : field_name_(std::move(field_name)) {}
  VtkOptions(const char* field_name) : field_name_(field_name) {}  // NOLINT: implicit
  XG_ARG(std::string, field_name);
  /// Clip values above zmax (NaN = no clipping), as h52vtp's --zmax.
  XG_ARG(double, zmax) = std::numeric_limits<double>::quiet_NaN();
  /// Store log(z + 0.1) instead of z (h52vtp's --log), applied after clipping.
  XG_ARG(bool, log) = false;
};

/// Writes the surface z(x, y) (row-major as in plot_contour) as a legacy ASCII VTK file
/// (DATASET STRUCTURED_GRID, DIMENSIONS nx ny 1) that ParaView opens: point (x[i], y[j], v) with
/// the value v as both height and point scalar `field_name`, plus an int point scalar "finite"
/// (1, or 0 where z was NaN/inf; those points get the largest finite value, or the smallest for
/// -inf, so ParaView can threshold them out). Points are listed x fastest, as z is stored.
void write_vtk(const std::string& path, const std::vector<double>& x, const std::vector<double>& y,
               const std::vector<double>& z, const VtkOptions& options = {});

/// Options of plot_images.
struct ImageGridOptions {
  /// Title above the grid (empty: none).
  XG_ARG(std::string, title);
  /// A caption above each image: empty, or one per image.
  XG_ARG(std::vector<std::string>, titles);
  /// Images per row (0, default: about square, ceil(sqrt(n))).
  XG_ARG(int64_t, cols) = 0;
  /// Signed values (weights, filters): each image's colour range is [-m, m] with m its largest
  /// |value|, on a diverging map (blue negative, white 0, red positive). Otherwise (default) each
  /// image spans its own [min, max] in greys (black low, white high), as a photo.
  XG_ARG(bool, symmetric) = false;
  /// Robust colour range: the range ends are the given percentile of each image's values (of
  /// |value| when symmetric) instead of the extremes, so that a few outliers do not wash out the
  /// rest; values beyond are drawn in the end colours. Within (50, 100]; default 100 (extremes).
  XG_ARG(double, percentile) = 100.0;
  /// Picture width (pixels for PNG, points for SVG/PDF; within [100, 8000]); the height follows
  /// from the grid (square images).
  XG_ARG(int64_t, width) = 900;
  XG_ARG(double, font_scale) = 1.0;
};

/// Draws `images` (each height x width values, row-major with row 0 at the top, e.g. a
/// Linear layer's weight row reshaped to 28 x 28, or a conv filter) as a grid of small panels,
/// each coloured on its own scale (see ImageGridOptions::symmetric), to `path`. Throws naming
/// the image when its size is not height * width, or a value is not finite.
void plot_images(const std::string& path, const std::vector<std::vector<double>>& images,
                 std::size_t height, std::size_t width, const ImageGridOptions& options = {});

/// Plots loss (left axis) and accuracy in % (right axis) per epoch, train solid and test dashed
/// (test curves and the accuracy axis only when present, i.e. not all NaN), to `path`.
/// Labels default to "epoch", "loss" and "accuracy (%)"; options' labels override them.
void plot_training_curves(const std::string& path, const std::vector<nn::EpochMetrics>& metrics,
                          const PlotOptions& options = {});
/// plot_training_curves from a metrics CSV written by nn::write_metrics_csv (or FitOptions::
/// metrics_csv): see read_metrics_csv.
void plot_training_curves(const std::string& path, const std::string& metrics_csv,
                          const PlotOptions& options = {});

/// Reads a metrics CSV as nn::write_metrics_csv writes it: a header naming the columns (epoch
/// first; any of train_loss, train_acc, test_loss, test_acc, lr, seconds, in any order; missing
/// ones are NaN) and one row per epoch ("nan" allowed). Throws naming the file and line on a
/// malformed header or row (wrong field count, text that is not a number, duplicate column).
std::vector<nn::EpochMetrics> read_metrics_csv(const std::string& path);

}  // namespace xg::viz
