// viz/graph: to_dot parsed back with libcgraph (exact nodes, edges, clusters, colours,
// topological order), escaping of hostile names, saved tensors and values, module collapse and
// the node cap (a 1,000,000-op chain), and render's files: SVG parsed as XML with expat, PNG
// signature and bounded size, PDF header, DOT text; and its errors.
#include <cgraph.h>
#include <doctest/doctest.h>
#include <expat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/extend.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// What libcgraph reads back from a DOT text: nodes by their label's first line.
struct Parsed {
  std::vector<std::string> labels;  // nodes in the order cgraph created them (first mention)
  std::map<std::string, std::string> fill;                   // first label line -> fillcolor
  std::map<std::string, std::string> full_label;             // first label line -> label attribute
  std::multiset<std::pair<std::string, std::string>> edges;  // (tail, head)
  std::multiset<std::pair<std::string, std::string>> undirected;
  std::map<std::string, std::set<std::string>> cluster_nodes;  // cluster label -> node labels
  std::map<std::string, std::set<std::string>> cluster_full;   // ... -> full node labels
  std::map<std::string, std::string> cluster_parent;           // cluster label -> parent ("" root)
  std::string graph_label;
  bool topological = true;        // every edge's tail was declared before its head
  std::size_t unconstrained = 0;  // edges with constraint=false
};

std::string attr(void* obj, const char* name) {
  const char* v = agget(obj, const_cast<char*>(name));
  return v ? v : "";
}

std::string first_line(const std::string& label) {
  std::string s = label;
  if (!s.empty() && s.front() == '{') s = s.substr(1);
  const std::size_t end = std::min(s.find("\\n"), s.find(" | "));
  return end == std::string::npos ? s : s.substr(0, end);
}

void read_clusters(Agraph_t* g, const std::string& parent, Parsed& p) {
  for (Agraph_t* sg = agfstsubg(g); sg; sg = agnxtsubg(sg)) {
    const std::string label = attr(sg, "label");
    REQUIRE(std::string(agnameof(sg)).rfind("cluster", 0) == 0);
    p.cluster_parent[label] = parent;
    for (Agnode_t* n = agfstnode(sg); n; n = agnxtnode(sg, n)) {
      p.cluster_nodes[label].insert(first_line(attr(n, "label")));
      p.cluster_full[label].insert(attr(n, "label"));
    }
    read_clusters(sg, label, p);
  }
}

Parsed parse(const std::string& dot) {
  Agraph_t* g = agmemread(dot.c_str());
  REQUIRE_MESSAGE(g != nullptr, dot);
  Parsed p;
  p.graph_label = attr(g, "label");
  std::map<Agnode_t*, std::size_t> position;
  for (Agnode_t* n = agfstnode(g); n; n = agnxtnode(g, n)) {
    const std::string label = attr(n, "label");
    position[n] = p.labels.size();
    p.labels.push_back(first_line(label));
    p.fill[first_line(label)] = attr(n, "fillcolor");
    p.full_label[first_line(label)] = label;
  }
  for (Agnode_t* n = agfstnode(g); n; n = agnxtnode(g, n))
    for (Agedge_t* e = agfstout(g, n); e; e = agnxtout(g, e)) {
      const auto pair =
          std::make_pair(p.labels[position[agtail(e)]], p.labels[position[aghead(e)]]);
      (attr(e, "dir") == "none" ? p.undirected : p.edges).insert(pair);
      if (attr(e, "constraint") == "false")
        ++p.unconstrained;
      else if (position[agtail(e)] >= position[aghead(e)])
        p.topological = false;
    }
  read_clusters(g, "", p);
  agclose(g);
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// A fresh empty directory under the system's temporary directory, removed at scope exit.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              ("xgrad_viz_graph_" + name + "_" + std::to_string(::getpid())))
                 .string()) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

/// The SVG's root element name and all its character data, or throws on malformed XML.
struct Svg {
  std::string root;
  std::string text;
};
Svg parse_svg(const std::string& xml) {
  Svg svg;
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &svg);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char**) {
        auto* s = static_cast<Svg*>(data);
        if (s->root.empty()) s->root = name;
      },
      [](void*, const XML_Char*) {});
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* text, int len) {
    static_cast<Svg*>(data)->text.append(text, static_cast<std::size_t>(len));
  });
  const bool ok = XML_Parse(parser, xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_OK;
  const std::string error = ok ? "" : XML_ErrorString(XML_GetErrorCode(parser));
  XML_ParserFree(parser);
  if (!ok) throw std::runtime_error("malformed SVG: " + error);
  return svg;
}

Tensor leaf(std::vector<double> values, const char* name = nullptr) {
  const std::size_t n = values.size();
  Tensor t = tensor(std::move(values), {n});
  t.requires_grad_(true);
  if (name) t.set_name(name);
  return t;
}

uint32_t big_endian(const std::string& s, std::size_t at) {
  uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

TEST_CASE("to_dot: a known graph parses into exactly its nodes, edges and nested clusters") {
  Tensor a = leaf({1, 2}), b = leaf({3, 4});
  Tensor c, d;
  {
    ScopeGuard block("block");
    c = a * b;
    ScopeGuard inner("block.inner");
    d = c + a;
  }
  Tensor out = d.sum();
  const std::string dot =
      viz::to_dot({out}, viz::GraphOptions().parameters({{"a", a}, {"b", b}}).title("known"));
  const Parsed p = parse(dot);
  CHECK(
      std::multiset<std::string>(p.labels.begin(), p.labels.end()) ==
      std::multiset<std::string>{"a", "b", "MulBackward", "AddBackward", "SumBackward", "output"});
  CHECK(p.edges ==
        std::multiset<std::pair<std::string, std::string>>{{"a", "MulBackward"},
                                                           {"b", "MulBackward"},
                                                           {"MulBackward", "AddBackward"},
                                                           {"a", "AddBackward"},
                                                           {"AddBackward", "SumBackward"},
                                                           {"SumBackward", "output"}});
  CHECK(p.undirected.empty());
  CHECK(p.topological);
  CHECK(p.cluster_parent ==
        std::map<std::string, std::string>{{"block", ""}, {"block.inner", "block"}});
  // cgraph lists a subgraph's nodes including those of its own subgraphs.
  CHECK(p.cluster_nodes.at("block") ==
        std::set<std::string>{"a", "b", "MulBackward", "AddBackward"});
  CHECK(p.cluster_nodes.at("block.inner") == std::set<std::string>{"AddBackward"});
  CHECK(p.fill.at("a") == "lightblue");
  CHECK(p.fill.at("MulBackward") == "lightgrey");
  CHECK(p.fill.at("output") == "darkolivegreen1");
  CHECK(p.full_label.at("MulBackward") == "MulBackward\\n[2] float32");
  CHECK(p.full_label.at("SumBackward") == "SumBackward\\n[] float32");
  CHECK(p.full_label.at("a") == "a\\n[2] float32");
  CHECK(p.graph_label == "known");

  // Collapsed: the ops of "block" and of "block.inner" are one node, with both leaves.
  const Parsed col = parse(viz::to_dot({out}, viz::GraphOptions().max_nodes(4)));
  CHECK(std::multiset<std::string>(col.labels.begin(), col.labels.end()) ==
        std::multiset<std::string>{"block", "SumBackward", "output"});
  CHECK(col.full_label.at("block") == "block\\n2 ops, 2 parameters");

  // Without clusters and names: leaves show the tensor's name, else its shape.
  a.set_name("alpha");
  const Parsed q = parse(viz::to_dot({out}, viz::GraphOptions().cluster_modules(false)));
  CHECK(q.cluster_parent.empty());
  CHECK(q.full_label.at("alpha") == "alpha\\n[2] float32");
  CHECK(q.fill.count("[2] float32") == 1);  // b: no name
}

TEST_CASE("to_dot: two outputs, a leaf output and an output without a graph") {
  Tensor a = leaf({1, 2});
  Tensor y1 = a * 2.0, y2 = a.exp();
  Tensor plain = tensor({1.0}, {1});
  const Parsed p = parse(viz::to_dot({y1, y2, a, plain}));
  CHECK(p.fill.at("output 0") == "darkolivegreen1");
  CHECK(p.fill.at("output 1") == "darkolivegreen1");
  CHECK(p.fill.at("output 2") == "darkolivegreen1");
  CHECK(p.full_label.at("output 3").find("no graph") != std::string::npos);
  CHECK(p.edges.count({"MulBackward", "output 0"}) == 1);
  CHECK(p.edges.count({"ExpBackward", "output 1"}) == 1);
  CHECK(p.labels.size() == 7);  // 2 ops, 1 leaf node, 4 outputs
  CHECK(error_of([&] { viz::to_dot({}); }).find("to_dot: expected at least one output") == 0);
  CHECK(error_of([&] {
          viz::to_dot({y1, Tensor()});
        }) == "to_dot: output 1 is an undefined tensor");
  CHECK(error_of([&] { viz::to_dot({y1}, viz::GraphOptions().rankdir("XY")); }) ==
        "to_dot: rankdir must be TB, BT, LR or RL, got 'XY'");
  CHECK(error_of([&] {
          viz::to_dot({y1}, viz::GraphOptions().max_nodes(0));
        }).find("max_nodes must be at least 1") != std::string::npos);
}

TEST_CASE("to_dot: hostile names are escaped in plain and record labels, and render") {
  const std::string name = "we\"ird <x>|{y} \\N \\\" end";
  Tensor w = leaf({1, 2, 3});
  Tensor out = (w * w).sum();
  out.set_name("lo\"ss\nline");
  const TempDir tmp("escape");
  const std::string& dir = tmp.path;
  for (bool values : {false, true}) {
    CAPTURE(values);
    const std::string dot =
        viz::to_dot({out}, viz::GraphOptions().parameters({{name, w}}).show_values(values));
    const Parsed p = parse(dot);  // still exactly 4 nodes: the name broke nothing
    CHECK(p.labels.size() == 4);
    CHECK(p.edges.size() == 4);  // w * w: two edges, as torchviz
    viz::render(dot, dir + "/escape.svg");
    const Svg svg = parse_svg(read_file(dir + "/escape.svg"));
    CHECK(svg.root == "svg");
    CHECK(svg.text.find(name) != std::string::npos);
    CHECK(svg.text.find("lo\"ss line") != std::string::npos);  // control characters -> ' '
  }
  // Invalid UTF-8 becomes '?', so Graphviz does not complain.
  const Parsed bad = parse(viz::to_dot({out}, viz::GraphOptions().parameters({{"p\xff", w}})));
  CHECK(bad.fill.count("p?") == 1);
}

TEST_CASE("to_dot: saved tensors are orange, merged when shared, undirected") {
  Tensor a = leaf({1, 2}), b = leaf({3, 4});
  Tensor d;
  {
    SavedTensorsInfoGuard record;
    CHECK(is_saved_info_enabled());
    Tensor c = a * b;    // saves a and b: the leaves' own nodes (as torchviz)
    Tensor e = c.exp();  // saves its output e
    d = e * c;           // saves e (again: one node) and c
  }
  CHECK_FALSE(is_saved_info_enabled());
  REQUIRE(d.grad_fn()->saved_info() != nullptr);
  CHECK(d.grad_fn()->saved_info()->size() == 2);
  CHECK(d.grad_fn()->saved_info()->at(0).shape == Shape{2});
  const auto options = viz::GraphOptions().parameters({{"a", a}, {"b", b}}).show_saved(true);
  const Parsed p = parse(viz::to_dot({d}, options));
  CHECK(std::count(p.labels.begin(), p.labels.end(), "saved") == 2);  // e and c
  CHECK(p.labels.size() == 8);  // a, b, 3 ops, 2 saved, output
  CHECK(p.fill.at("saved") == "orange");
  CHECK(p.undirected ==
        std::multiset<std::pair<std::string, std::string>>{
            {"saved", "ExpBackward"}, {"saved", "MulBackward"}, {"saved", "MulBackward"}});
  CHECK(p.topological);
  // Nothing saved without show_saved; after backward the saved tensors are freed.
  CHECK(parse(viz::to_dot({d}, viz::GraphOptions())).undirected.empty());
  d.sum().backward();
  CHECK(d.grad_fn()->saved_info() == nullptr);
  CHECK(parse(viz::to_dot({d}, options)).undirected.empty());
  // Recorded without the guard: the graph says how to get them.
  Tensor e = a * b;
  CHECK(e.grad_fn()->saved_info() == nullptr);
  const Parsed q = parse(viz::to_dot({e}, options));
  CHECK(q.undirected.empty());
  CHECK(q.graph_label.find("SavedTensorsInfoGuard") != std::string::npos);
}

TEST_CASE("to_dot: a saved tensor shared by two modules sits in their common cluster") {
  manual_seed(0);
  nn::MLP mlp({4, 8, 2});  // layers.0 Linear, layers.1 ReLU, layers.2 Linear
  Tensor y;
  {
    SavedTensorsInfoGuard record;
    y = mlp(randn({3, 4})).sum();
  }
  const Parsed p = parse(viz::to_dot({y}, viz::GraphOptions().show_saved(true)));
  // ReLU's output [3, 8]: saved by ReLU (layers.1) and by the next Linear (layers.2).
  const std::string relu_out = "saved\\n[3, 8] float32", input = "saved\\n[3, 4] float32";
  CHECK(p.cluster_full.at("layers").count(relu_out) == 1);
  CHECK(p.cluster_full.at("layers.1").count(relu_out) == 0);
  CHECK(p.cluster_full.at("layers.2").count(relu_out) == 0);
  CHECK(p.cluster_full.at("layers.0").count(input) == 1);
}

TEST_CASE("to_dot: show_values gives data | grad records for small tensors only") {
  Tensor a = leaf({1.5, -2}), big = leaf(std::vector<double>(20, 1.0));
  Tensor out = (a * a).sum() + big.sum();
  out.backward();
  const std::string dot = viz::to_dot(
      {out}, viz::GraphOptions().parameters({{"a", a}, {"big", big}}).show_values(true));
  const Parsed p = parse(dot);
  CHECK(p.full_label.at("a") == "a | data\\ [1.5,\\ -2] | grad\\ [3,\\ -4]");
  CHECK(p.full_label.at("big") == "big\\n[20] float32");  // 20 > max_value_elements 16
  CHECK(p.full_label.at("output").find("data\\ [") != std::string::npos);
  CHECK(p.full_label.at("output").find("grad\\ -") != std::string::npos);  // not retained
  CHECK(dot.find("shape=record") != std::string::npos);
  // LR: the record in braces, so the fields still read left to right.
  CHECK(viz::to_dot({out}, viz::GraphOptions().show_values(true).rankdir("LR")).find("label=\"{") !=
        std::string::npos);
}

TEST_CASE("to_dot: over max_nodes, modules collapse into single nodes, one per call") {
  manual_seed(0);
  nn::MLP mlp({4, 8, 8, 2});
  Tensor y = mlp(randn({3, 4})).sum();
  const Parsed full =
      parse(viz::to_dot({y}, viz::GraphOptions().parameters(mlp.named_parameters())));
  CHECK(full.labels.size() == 13);  // 3 Linear + 2 ReLU + 6 parameters + sum + output
  const Parsed p = parse(viz::to_dot({y}, viz::GraphOptions().max_nodes(8)));
  CHECK(std::multiset<std::string>(p.labels.begin(), p.labels.end()) ==
        std::multiset<std::string>{"layers.0", "layers.1", "layers.2", "layers.3", "layers.4",
                                   "SumBackward", "output"});
  CHECK(p.full_label.at("layers.0") == "layers.0\\n1 op, 2 parameters");
  CHECK(p.edges.count({"layers.0", "layers.1"}) == 1);
  CHECK(p.edges.count({"layers.4", "SumBackward"}) == 1);
  CHECK(p.cluster_nodes.at("layers").size() == 5);
  CHECK(p.graph_label.find("collapsed") != std::string::npos);
  CHECK(p.topological);

  // A module (Linear then Tanh) called twice with an op outside it in between: one node per
  // call; the shared parameters stay outside (they feed both calls).
  auto blk = std::make_shared<nn::Sequential>();
  blk->push_back(std::make_shared<nn::Linear>(2, 2));
  blk->push_back(std::make_shared<nn::Tanh>());
  nn::Sequential root;
  root.push_back("blk", blk);
  Tensor h = (*blk)(randn({1, 2}));
  h = (*blk)(relu(h)).sum();
  CHECK(parse(viz::to_dot({h})).labels.size() == 9);
  const Parsed twice = parse(viz::to_dot({h}, viz::GraphOptions().max_nodes(7)));
  CHECK(std::count(twice.labels.begin(), twice.labels.end(), "blk") == 2);
  CHECK(twice.labels.size() == 7);
  CHECK(twice.edges.count({"blk", "ReluBackward"}) == 1);
  CHECK(twice.edges.count({"ReluBackward", "blk"}) == 1);
  CHECK(twice.topological);
}

TEST_CASE("to_dot: a cycle made by collapsing modules becomes one unconstraining edge") {
  Tensor a = leaf({1, 2});
  Tensor t1, t2, t3;
  {
    ScopeGuard in_a("A");
    t1 = a * 2.0;
  }
  {
    ScopeGuard in_b("B");  // an op of another module between two ops of A
    t2 = t1 + 1.0;
  }
  {
    ScopeGuard in_a("A");
    t3 = t1 * t2;
  }
  CHECK(parse(viz::to_dot({t3})).unconstrained == 0);
  const std::string dot = viz::to_dot({t3}, viz::GraphOptions().max_nodes(4));
  const Parsed p = parse(dot);
  CHECK(std::multiset<std::string>(p.labels.begin(), p.labels.end()) ==
        std::multiset<std::string>{"A", "B", "output"});
  CHECK(p.edges == std::multiset<std::pair<std::string, std::string>>{
                       {"A", "B"}, {"B", "A"}, {"A", "output"}});
  CHECK(p.unconstrained == 1);
  CHECK(p.topological);  // apart from that edge
  const TempDir tmp("cycle");
  viz::render(dot, tmp.path + "/cycle.svg");
  CHECK(parse_svg(read_file(tmp.path + "/cycle.svg")).root == "svg");
}

TEST_CASE("to_dot: a 1,000,000-op chain is drawn truncated, with a note") {
  Tensor x = leaf({0.5});
  Tensor h = x;
  for (int i = 0; i < 1000000; ++i) h = h + 1.0;
  const std::string dot = viz::to_dot({h});
  const Parsed p = parse(dot);
  CHECK(p.labels.size() == 3001);  // the 3,000 nearest the output and one "more" node
  CHECK(p.graph_label.find("truncated") != std::string::npos);
  CHECK(p.topological);
  CHECK(std::count(p.labels.begin(), p.labels.end(), "AddBackward") == 2999);
  h = Tensor();  // frees the chain without recursion
}

TEST_CASE("render: SVG, PNG (bounded), PDF and DOT files") {
  Tensor a = leaf({1, 2});
  Tensor h = a;
  for (int i = 0; i < 60; ++i) h = h * 1.01;  // tall: 60 ranks
  const std::string dot = viz::to_dot({h.sum()});
  const TempDir tmp("formats");
  const std::string& dir = tmp.path;
  viz::render(dot, dir + "/g.svg");
  CHECK(parse_svg(read_file(dir + "/g.svg")).root == "svg");

  // Too tall to read at 600 pixels: refused, unless the caller accepts a small scale.
  CHECK(error_of([&] {
          viz::render(dot, dir + "/g.PNG", viz::RenderOptions().max_pixels(600));
        }).find("below min_scale 0.4 (unreadable): write .svg") != std::string::npos);
  viz::render(dot, dir + "/g.PNG", viz::RenderOptions().max_pixels(600).min_scale(0.05));
  const std::string png = read_file(dir + "/g.PNG");
  REQUIRE(png.size() > 24);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  CHECK(png.compare(12, 4, "IHDR") == 0);
  CHECK(big_endian(png, 16) <= 600);
  CHECK(big_endian(png, 20) <= 600);
  CHECK(big_endian(png, 20) >= 300);  // scaled down to fit, not to nothing

  viz::render(dot, dir + "/g.pdf");
  CHECK(read_file(dir + "/g.pdf").compare(0, 5, "%PDF-") == 0);
  viz::render(dot, dir + "/g.dot");
  CHECK(read_file(dir + "/g.dot") == dot);
  // Replacing a file works, and no temporary files stay behind.
  viz::render({a * 2.0}, dir + "/g.svg");
  CHECK(read_file(dir + "/g.svg").find("MulBackward") != std::string::npos);
  CHECK(std::distance(std::filesystem::directory_iterator(dir),
                      std::filesystem::directory_iterator()) == 4);
}

TEST_CASE("render: errors name the path and say what is wrong") {
  const TempDir tmp("errors");
  const std::string& dir = tmp.path;
  const std::string svg = dir + "/g.svg";
  const std::string e1 = error_of([&] { viz::render("digraph { a -> ; }", svg); });
  CHECK(e1.find("render: DOT syntax error: ") == 0);
  CHECK(e1.find("syntax error in line") !=
        std::string::npos);  // Graphviz's own words  // Graphviz's own words
  CHECK(e1.find(svg) != std::string::npos);
  CHECK(error_of([&] { viz::render("", svg); }).find("the text is empty") != std::string::npos);
  viz::render("digraph { a -> b; }", svg);  // the parser recovered
  CHECK(parse_svg(read_file(svg)).root == "svg");

  CHECK(error_of([&] { viz::render("digraph { a; }", dir + "/g.jpg"); }) ==
        "render: unknown format '.jpg' of '" + dir + "/g.jpg' (use .svg, .png, .pdf, .dot or .gv)");
  CHECK(error_of([&] {
          viz::render("digraph { a; }", dir + "/g");
        }).find("unknown format (no extension)") != std::string::npos);
  CHECK(error_of([&] { viz::render("digraph { a; }", dir + "/none/g.svg"); }) ==
        "render: cannot write '" + dir + "/none/g.svg': directory '" + dir +
            "/none' does not exist");
  CHECK(error_of([&] { viz::render("digraph { a; }", svg + "/g.svg"); }) ==
        "render: cannot write '" + svg + "/g.svg': '" + svg + "' is not a directory");
  // Passes the checks (root may write anywhere) but cannot be created: still a clear error.
  CHECK(error_of([&] {
          viz::render("digraph { a; }", "/proc/xgrad_graph.svg");
        }).find("render: cannot write '/proc/xgrad_graph.svg': ") == 0);
  std::filesystem::create_directories(dir + "/d.svg");
  CHECK(error_of([&] { viz::render("digraph { a; }", dir + "/d.svg"); }).find("is a directory") !=
        std::string::npos);
  CHECK(error_of([&] {
          viz::render("digraph { a -> b -> c; }", svg, viz::RenderOptions().max_nodes(2));
        }).find("3 nodes, more than max_nodes 2") != std::string::npos);
  CHECK(error_of([&] {
          viz::render("digraph { a; }", svg, viz::RenderOptions().dpi(0));
        }).find("dpi must be in (0, 2400]") != std::string::npos);
}

TEST_CASE("render: a NUL byte, too many bytes or too many edges are refused before layout") {
  const TempDir tmp("limits");
  const std::string dot_path = tmp.path + "/g.dot", svg = tmp.path + "/g.svg";
  // Graphviz reads a C string: the text after the NUL was never parsed, yet .dot wrote it.
  const std::string with_nul = std::string("digraph { a -> b; }") + '\0' + "garbage {{{";
  for (const std::string& path : {dot_path, svg}) {
    CHECK(error_of([&] { viz::render(with_nul, path); }) ==
          "render: the DOT text holds a NUL byte at offset 19 (writing '" + path + "')");
    CHECK_FALSE(std::filesystem::exists(path));
  }
  CHECK(error_of([&] {
          viz::render("digraph { a -> b; }", svg, viz::RenderOptions().max_bytes(10));
        }) == "render: the DOT text has 19 bytes, more than max_bytes 10 (writing '" + svg + "')");
  // Two nodes, four edges: the node limit alone would let an edge-heavy graph through.
  CHECK(error_of([&] {
          viz::render("digraph { a -> b; a -> b; b -> a; a -> b; }", svg,
                      viz::RenderOptions().max_edges(3));
        }).find("the graph has 4 edges, more than max_edges 3") != std::string::npos);
  viz::render("digraph { a -> b; a -> b; b -> a; }", svg, viz::RenderOptions().max_edges(3));
  CHECK(std::filesystem::exists(svg));
}

TEST_CASE("render: concurrent calls from two threads both succeed") {
  const TempDir tmp("threads");
  const std::string& dir = tmp.path;
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      errors[t] = error_of([&] {
        for (int i = 0; i < 5; ++i)
          viz::render("digraph { a -> b; b -> c; }", dir + "/t" + std::to_string(t) + ".png");
      });
    });
  for (auto& th : threads) th.join();
  CHECK(errors[0] == "(no error)");
  CHECK(errors[1] == "(no error)");
}
