// report.html: one self-contained page about a run folder (inline SVG pictures, an HTML table
// for the confusion matrix, no scripts, no network). The markup is XHTML-compatible, so an XML
// parser reads it too (tests/cli check that).
//
// `xgrad report DIR` (re)writes it; `xgrad train --report` and `xgrad demo` call write_report.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.hpp"

namespace fs = std::filesystem;

namespace xgcli {

namespace {

/// Text with &, <, >, " escaped for HTML/XML.
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size()))
    s.replace(i, from.size(), to);
}

/// An SVG file ready to inline: the <svg> element alone (no XML declaration, DOCTYPE or
/// comments before it), with every id prefixed by `prefix` so that the glyphs and clip paths of
/// several pictures on one page do not collide. Empty if the file does not exist.
std::string inline_svg(const std::string& path, const std::string& prefix, bool fit = true) {
  if (!fs::exists(path)) return "";
  std::string svg = read_text(path);
  const std::size_t start = svg.find("<svg");
  if (start == std::string::npos) throw std::runtime_error(path + " is not an SVG file");
  svg = svg.substr(start);
  // Comments inside (Graphviz writes one per node) are dropped: they may hold "--".
  for (std::size_t i = svg.find("<!--"); i != std::string::npos; i = svg.find("<!--", i)) {
    const std::size_t end = svg.find("-->", i);
    if (end == std::string::npos) break;
    svg.erase(i, end + 3 - i);
  }
  replace_all(svg, " id=\"", " id=\"" + prefix);
  replace_all(svg, "href=\"#", "href=\"#" + prefix);
  replace_all(svg, "url(#", "url(#" + prefix);
  if (fit) {  // drop the root's width and height: CSS scales it to the column, viewBox keeps the
              // shape
    const std::size_t root_end = svg.find('>');
    for (const char* attr : {" width=\"", " height=\""}) {
      const std::size_t a = svg.find(attr);
      if (a == std::string::npos || a > root_end) continue;
      svg.erase(a, svg.find('"', a + std::strlen(attr)) + 1 - a);
    }
  }
  return svg.insert(4, fit ? " class=\"figure\"" : " class=\"figure natural\"");
}

/// A CSV file as rows of cells (no quoting: the files here have none).
std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) cells.push_back(cell);
    if (!cells.empty()) rows.push_back(cells);
  }
  return rows;
}

const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; background: #f4f5f7;
       margin: 0; line-height: 1.45; }
header { background: #1f3b57; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 1.6em; font-weight: 600; }
header p { margin: 4px 0 0; color: #c9d6e3; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 24px 40px; }
section { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,0.12);
          padding: 14px 22px 18px; margin: 18px 0; }
h2 { font-size: 1.2em; margin: 4px 0 10px; color: #1f3b57; border-bottom: 2px solid #e3e8ee;
     padding-bottom: 6px; }
h3 { font-size: 1em; margin: 8px 0 4px; color: #444; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; margin: 18px 0 0; }
.card { flex: 1 1 180px; background: #fff; border-radius: 8px; padding: 12px 16px;
        box-shadow: 0 1px 3px rgba(0,0,0,0.12); }
.card .value { font-size: 1.7em; font-weight: 600; color: #1f3b57; }
.card .label { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 4px 9px; border: 1px solid #e1e4e8; text-align: right; }
th { background: #f0f3f6; font-weight: 600; }
td.name, th.name { text-align: left; }
dl.settings { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; }
dl.settings div { background: #f0f3f6; border-radius: 5px; padding: 4px 10px; }
dl.settings dt { display: inline; color: #666; margin-right: 6px; }
dl.settings dd { display: inline; margin: 0; font-weight: 600; }
table.confusion td { min-width: 44px; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.row > div { flex: 1 1 520px; min-width: 0; }
svg.figure { width: 100%; height: auto; display: block; margin: 6px auto; }
svg.natural { width: auto; max-width: none; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.graph { max-height: 900px; overflow: auto; border: 1px solid #e1e4e8; border-radius: 6px;
         background: #fff; }
.note { color: #666; font-size: 0.88em; }
ul.files { columns: 3; font-size: 0.9em; }
code { background: #f0f3f6; padding: 1px 4px; border-radius: 3px; }
)";

/// A picture section's body: the inlined SVG or a note that it is missing.
std::string figure(const std::string& dir, const std::string& file, const std::string& prefix,
                   const std::string& caption) {
  const std::string svg = inline_svg(dir + "/" + file, prefix);
  if (svg.empty()) return "";
  return "<div><h3>" + esc(caption) + "</h3>\n" + svg + "\n</div>\n";
}

}  // namespace

std::string write_report(const std::string& dir, const std::string& title_in) {
  const std::vector<std::string> checkpoints = run_checkpoints(dir);
  nn::Metadata settings;
  if (!checkpoints.empty()) settings = nn::read_metadata(checkpoints.back());
  const std::string model = settings.count("model") ? settings["model"] : "";
  const std::string title =
      !title_in.empty() ? title_in
                        : (model.empty() ? "xgrad run" : model_title(model)) + " on Fashion-MNIST";

  std::vector<nn::EpochMetrics> metrics;
  if (fs::exists(dir + "/metrics.csv")) metrics = viz::read_metrics_csv(dir + "/metrics.csv");
  std::vector<std::vector<std::string>> confusion;
  if (fs::exists(dir + "/confusion.csv")) confusion = read_csv(dir + "/confusion.csv");
  nlohmann::json hessian;
  if (fs::exists(dir + "/hessian.json"))
    hessian = nlohmann::json::parse(read_text(dir + "/hessian.json"));

  // Test accuracy from the confusion matrix (trace / total).
  double correct = 0, total = 0;
  for (std::size_t i = 1; i < confusion.size(); ++i)
    for (std::size_t j = 1; j < confusion[i].size(); ++j) {
      const double n = std::stod(confusion[i][j]);
      total += n;
      if (i == j) correct += n;
    }

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
    << "<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, "
       "initial-scale=1\"/>\n"
    << "<title>" << esc(title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
    << "<header><h1>" << esc(title)
    << "</h1><p>xgrad run report: " << esc(fs::absolute(dir).lexically_normal().string())
    << "</p></header>\n<main>\n";

  // Summary cards.
  h << "<div class=\"cards\">\n";
  auto card = [&](const std::string& value, const std::string& label) {
    h << "<div class=\"card\"><div class=\"value\">" << esc(value) << "</div><div class=\"label\">"
      << esc(label) << "</div></div>\n";
  };
  if (total > 0)
    card(fmt(100 * correct / total, 4) + "%", "test accuracy (" + fmt(total, 6) + " images)");
  if (!metrics.empty()) {
    card(fmt(metrics.back().test_loss, 4),
         "test loss after epoch " + std::to_string(metrics.back().epoch));
    double seconds = 0;
    for (const auto& m : metrics) seconds += m.seconds;
    card(fmt(seconds, 3) + " s", std::to_string(metrics.size()) + " epochs of training");
  }
  if (hessian.contains("eigenvalues") && !hessian["eigenvalues"].empty())
    card(fmt(hessian["eigenvalues"][0].get<double>(), 4), "top Hessian eigenvalue");
  h << "</div>\n";

  if (!settings.empty()) {
    h << "<section><h2>Settings</h2>\n<dl class=\"settings\">\n";
    for (const auto& [k, v] : settings)
      if (k != "test_accuracy" && k != "epoch")
        h << "<div><dt>" << esc(k) << "</dt><dd>"
          << esc(k == "limit" && v == "0" ? "all images" : v) << "</dd></div>\n";
    h << "</dl></section>\n";
  }

  if (!metrics.empty()) {
    h << "<section><h2>Training</h2>\n<div class=\"grid2\">\n"
      << figure(dir, "training_curves.svg", "curves-", "Loss and accuracy per epoch")
      << "<div><h3>Per epoch</h3><table>\n<tr><th>epoch</th><th>train loss</th><th>train acc</th>"
      << "<th>test loss</th><th>test acc</th><th>lr</th><th>seconds</th></tr>\n";
    for (const auto& m : metrics)
      h << "<tr><td>" << m.epoch << "</td><td>" << fmt(m.train_loss) << "</td><td>"
        << fmt(100 * m.train_acc) << "%</td><td>" << fmt(m.test_loss) << "</td><td>"
        << fmt(100 * m.test_acc) << "%</td><td>" << fmt(m.lr, 3) << "</td><td>" << fmt(m.seconds, 3)
        << "</td></tr>\n";
    h << "</table></div>\n</div></section>\n";
  }

  if (confusion.size() > 1) {
    h << "<section><h2>Confusion matrix</h2>\n<p class=\"note\">Rows: true class; columns: "
      << "predicted class. Shading: the share of the row (blue on the diagonal, red "
         "elsewhere).</p>\n"
      << "<table class=\"confusion\">\n<tr><th class=\"name\">true \\ predicted</th>";
    for (std::size_t j = 1; j < confusion[0].size(); ++j)
      h << "<th>" << esc(confusion[0][j]) << "</th>";
    h << "<th>recall</th></tr>\n";
    for (std::size_t i = 1; i < confusion.size(); ++i) {
      double row = 0;
      for (std::size_t j = 1; j < confusion[i].size(); ++j) row += std::stod(confusion[i][j]);
      h << "<tr><th class=\"name\">" << esc(confusion[i][0]) << "</th>";
      for (std::size_t j = 1; j < confusion[i].size(); ++j) {
        const double share = row > 0 ? std::stod(confusion[i][j]) / row : 0;
        // Off-diagonal shares are small: a square root makes 1-10% visible.
        const double alpha = i == j ? share : std::min(1.0, std::sqrt(share) * 1.2);
        const std::string rgb = i == j ? "31,119,180" : "214,39,40";
        h << "<td style=\"background: rgba(" << rgb << "," << fmt(0.85 * alpha, 3) << ");"
          << (i == j && share > 0.6 ? " color: #fff;" : "") << "\">" << esc(confusion[i][j])
          << "</td>";
      }
      h << "<td>" << (row > 0 ? fmt(100 * std::stod(confusion[i][i]) / row, 3) + "%" : "-")
        << "</td></tr>\n";
    }
    h << "</table></section>\n";
  }

  const std::string graph = inline_svg(dir + "/graph.svg", "graph-", false);
  if (!graph.empty())
    h << "<section><h2>Computation graph</h2>\n<p class=\"note\">One training step: the forward "
      << "pass and the loss that <code>loss.backward()</code> walks; one box per module, "
      << "parameters (blue) by name.</p>\n<div class=\"graph\">" << graph << "</div></section>\n";

  const std::string line =
      figure(dir, "interpolation.svg", "line-", "1D: from the initial to the trained weights");
  const std::string surface =
      figure(dir, "surface.svg", "surface-", "2D: filter-normalized random directions");
  const std::string trajectory =
      figure(dir, "trajectory.svg", "traj-", "2D: the training trajectory on its PCA plane");
  // The curvature: the top Hessian eigenvalues at the trained weights (next to the pictures).
  std::ostringstream curvature;
  if (hessian.contains("eigenvalues")) {
    curvature << "<div><h3>Curvature at the trained weights</h3>\n<p>Top eigenvalue"
              << (hessian["eigenvalues"].size() > 1 ? "s" : "")
              << " of the Hessian of the test loss over " << hessian.value("images", 0)
              << " test images at <code>"
              << esc(fs::path(hessian.value("checkpoint", std::string())).filename().string())
              << "</code> (Lanczos, " << hessian.value("iterations", 0)
              << " Hessian-vector products, "
              << (hessian.value("converged", false) ? "converged" : "not converged")
              << "). A large top eigenvalue means a sharp minimum along its eigenvector.</p>\n"
              << "<table><tr><th>k</th><th>eigenvalue</th><th>residual bound</th></tr>\n";
    for (std::size_t k = 0; k < hessian["eigenvalues"].size(); ++k)
      curvature << "<tr><td>" << k + 1 << "</td><td>"
                << fmt(hessian["eigenvalues"][k].get<double>(), 6) << "</td><td>"
                << fmt(hessian["residuals"][k].get<double>(), 3) << "</td></tr>\n";
    curvature << "</table></div>\n";
  }
  if (!line.empty() || !surface.empty() || !trajectory.empty() || !curvature.str().empty())
    h << "<section><h2>Loss landscape</h2>\n<p class=\"note\">Test loss around the trained "
      << "weights (Li et al., 2018): along the line from the initial weights, over two random "
      << "filter-normalized directions, and over the plane of the trajectory's two principal "
      << "components with the checkpoint of each epoch.</p>\n<div class=\"grid2\">\n"
      << line << surface << trajectory << curvature.str() << "</div></section>\n";

  // The files of the run, linked relative to the report.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name != "report.html" && name.find(".tmp") == std::string::npos &&
        name[0] != '.')
      files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  h << "<section><h2>Files</h2>\n<ul class=\"files\">\n";
  for (const std::string& f : files)
    h << "<li><a href=\"" << esc(f) << "\">" << esc(f) << "</a></li>\n";
  h << "</ul></section>\n</main>\n</body>\n</html>\n";
  const std::string path = dir + "/report.html";
  write_text(path, h.str());
  return path;
}

void add_report(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("report", "(Re)write report.html from the files of a run folder");
  cmd->add_option("dir", *dir, "A folder written by xgrad train / landscape / demo")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->callback([dir] { std::cout << "wrote " << write_report(*dir) << "\n"; });
}

}  // namespace xgcli
