// Computation graphs: DOT export (to_dot) and in-process rendering with libgvc (render).
//
// to_dot works in five iterative steps, none recursive (a 1,000,000-op chain must not overflow
// the stack): walk the nodes breadth-first from the outputs (bounded), make display elements
// (ops, leaves, outputs, saved tensors), collapse modules while there are too many, keep the
// elements nearest the outputs if there are still too many, then order them topologically and
// write DOT.
#include "viz/graph.hpp"

#include <gvc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "autograd/extend.hpp"
#include "autograd/node.hpp"

namespace xg::viz {
namespace {

// ---------------------------------------------------------------------------------------------
// Text: names come from users (parameter names, tensor names), so everything is escaped.

/// `s` with invalid UTF-8 bytes replaced by '?' and control characters by ' ' (Graphviz
/// expects UTF-8 and would warn on stderr).
std::string clean_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

/// A DOT quoted string for a plain label: lines joined by Graphviz's "\n"; backslashes and
/// quotes escaped (so a name cannot end the string or use escapes such as \N).
std::string quote_label(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (l) out += "\\n";
    for (char c : clean_utf8(lines[l])) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

/// One field of a record label: also escapes the record syntax { } | < > and spaces.
std::string record_field(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (l) out += "\\n";
    for (char c : clean_utf8(lines[l])) {
      if (std::strchr("\\\"{}|<> ", c)) out += '\\';
      out += c;
    }
  }
  return out;
}

/// A plain quoted DOT string (attribute values such as the title).
std::string quote(const std::string& s) { return quote_label({s}); }

std::string shape_dtype(const Shape& shape, Dtype dtype) {
  return shape_str(shape) + " " + dtype_name(dtype);
}

/// "[0.1, -2, 3.5]" (%.4g), for show_values.
std::string values_str(const Tensor& t) {
  if (!t.defined()) return "-";
  std::vector<double> v = t.to_vector<double>();
  std::string s = "[";
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.4g", v[i]);
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// Step 1: the recorded nodes, breadth-first from the outputs, with their input edges (CSR).

struct Walk {
  std::vector<const Node*> nodes;       // BFS order from the outputs
  std::vector<std::size_t> edge_start;  // inputs of node i: edges[edge_start[i] .. [i + 1])
  std::vector<uint32_t> edges;          // input node indices
  std::unordered_map<const Node*, uint32_t> index;
  bool complete = true;  // false when the walk stopped at its limit
};

Walk walk(const std::vector<Tensor>& outputs, std::size_t limit) {
  Walk w;
  auto visit = [&](const Node* n) -> uint32_t {
    auto [it, fresh] = w.index.emplace(n, static_cast<uint32_t>(w.nodes.size()));
    if (fresh) w.nodes.push_back(n);
    return it->second;
  };
  for (const Tensor& t : outputs)
    if (t.grad_fn()) visit(t.grad_fn().get());
  w.edge_start.push_back(0);
  for (std::size_t i = 0; i < w.nodes.size(); ++i) {
    if (w.nodes.size() >= limit) {  // stop growing; nodes not expanded keep no edges
      w.complete = false;
      w.nodes.resize(i);
      break;
    }
    for (const auto& next : w.nodes[i]->next_functions())
      if (next) w.edges.push_back(visit(next.get()));
    w.edge_start.push_back(w.edges.size());
  }
  if (!w.complete) {  // drop edges to nodes that were found but not expanded
    std::vector<uint32_t> kept;
    std::vector<std::size_t> start{0};
    for (std::size_t i = 0; i < w.nodes.size(); ++i) {
      for (std::size_t e = w.edge_start[i]; e < w.edge_start[i + 1]; ++e)
        if (w.edges[e] < w.nodes.size()) kept.push_back(w.edges[e]);
      start.push_back(kept.size());
    }
    w.edges = std::move(kept);
    w.edge_start = std::move(start);
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// Step 2: display elements.

enum class Kind { op, leaf, output, saved, module, more };

struct Element {
  Kind kind;
  std::vector<std::string> label;  // lines
  std::string record;              // show_values: a record label (replaces `label`)
  const std::string* cluster = nullptr;
  uint64_t order = 0;       // creation order (sequence_nr); ties broken by index
  std::size_t members = 1;  // module: ops inside
  std::size_t member_leaves = 0;
};

struct Edge {
  uint32_t from, to;
  bool undirected;  // saved tensor -> op
};

/// Dotted path components of a scope ("features.0" -> {"features", "0"}).
std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = p.find('.', start);
    parts.push_back(p.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::size_t path_depth(const std::string* p) {
  return p ? static_cast<std::size_t>(std::count(p->begin(), p->end(), '.')) + 1 : 0;
}

/// Interned prefixes of scope paths ("a.b.c", 2 -> "a.b"), stable pointers for this call.
class Paths {
 public:
  /// Equal paths give equal pointers (also when one is a node's own scope string).
  const std::string* prefix(const std::string* p, std::size_t depth) {
    if (!p) return p;
    if (path_depth(p) <= depth) return intern(*p);
    std::size_t pos = 0;
    for (std::size_t d = 0; d < depth; ++d) pos = p->find('.', pos) + 1;
    return &*set_.insert(p->substr(0, pos - 1)).first;
  }
  const std::string* intern(const std::string& s) { return &*set_.insert(s).first; }
  /// The longest common module path of a and b ("a.b.c", "a.b.d" -> "a.b"), or nullptr.
  const std::string* common(const std::string* a, const std::string* b) {
    if (!a || !b) return nullptr;
    if (a == b || *a == *b) return a;
    std::size_t end = 0;  // length of the common prefix ending at a component boundary
    for (std::size_t i = 0;; ++i) {
      const bool a_end = i == a->size() || (*a)[i] == '.';
      const bool b_end = i == b->size() || (*b)[i] == '.';
      if (a_end && b_end) end = i;
      if (i == a->size() || i == b->size() || (*a)[i] != (*b)[i]) break;
    }
    return end ? intern(a->substr(0, end)) : nullptr;
  }

 private:
  std::set<std::string> set_;
};

/// Union-find over element indices (module collapse: one element per call of a module).
struct DisjointSets {
  std::vector<uint32_t> parent;
  explicit DisjointSets(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  uint32_t find(uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(uint32_t a, uint32_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

struct Graph {
  std::vector<Element> elements;
  std::vector<Edge> edges;
  std::vector<std::string> notes;
};

/// The first display graph: one element per walked node, output and saved tensor.
Graph make_elements(const Walk& w, const std::vector<Tensor>& outputs, const GraphOptions& o,
                    Paths& paths, std::vector<int64_t>& element_of_node) {
  Graph g;
  std::unordered_map<const TensorImpl*, const std::string*> names;
  for (const auto& [name, t] : o.parameters())
    if (t.defined()) names.emplace(t.impl(), &name);

  auto leaf_label = [&](const Tensor& t) {
    auto it = names.find(t.impl());
    if (it != names.end()) return *it->second;
    if (!t.name().empty()) return t.name();
    return std::string();
  };
  auto small = [&](const Tensor& t) {
    return o.show_values() && t.numel() <= o.max_value_elements();
  };
  auto value_record = [&](const std::string& title, const Tensor& t) {
    const Tensor grad =
        t.requires_grad() && (t.is_leaf() || t.retains_grad()) ? t.grad() : Tensor();
    return record_field({title}) + " | " + record_field({"data " + values_str(t)}) + " | " +
           record_field({"grad " + values_str(grad)});
  };

  element_of_node.assign(w.nodes.size(), -1);
  for (std::size_t i = 0; i < w.nodes.size(); ++i) {
    const Node* n = w.nodes[i];
    Element e;
    e.order = n->sequence_nr();
    e.cluster = n->scope();
    if (const Tensor* leaf = n->leaf()) {
      e.kind = Kind::leaf;
      std::string name = leaf_label(*leaf);
      if (small(*leaf)) {
        e.record =
            value_record(name.empty() ? shape_dtype(leaf->shape(), leaf->dtype()) : name, *leaf);
      } else {
        if (!name.empty()) e.label.push_back(name);
        e.label.push_back(shape_dtype(leaf->shape(), leaf->dtype()));
      }
    } else {
      e.kind = Kind::op;
      e.label.push_back(n->name());
      const GradientSpec& spec = n->gradient_spec();
      if (spec.known()) e.label.push_back(shape_dtype(spec.shape(), spec.dtype()));
    }
    element_of_node[i] = static_cast<int64_t>(g.elements.size());
    g.elements.push_back(std::move(e));
  }
  for (std::size_t i = 0; i < w.nodes.size(); ++i)
    for (std::size_t k = w.edge_start[i]; k < w.edge_start[i + 1]; ++k)
      g.edges.push_back({static_cast<uint32_t>(element_of_node[w.edges[k]]),
                         static_cast<uint32_t>(element_of_node[i]), false});

  // Saved tensors: one element per distinct (buffer, shape, dtype), edges to each op saving it.
  if (o.show_saved()) {
    using Key = std::tuple<const void*, Shape, Dtype>;
    std::map<Key, uint32_t> saved;  // a saved leaf (a weight) is its leaf's node, as torchviz
    for (std::size_t i = 0; i < w.nodes.size(); ++i)
      if (const Tensor* t = w.nodes[i]->leaf(); t && t->numel() > 0)
        saved.emplace(
            Key{dispatch_all(t->dtype(),
                             [&](auto tag) -> const void* { return t->data_ptr<decltype(tag)>(); }),
                t->shape(), t->dtype()},
            static_cast<uint32_t>(element_of_node[i]));
    std::set<std::pair<uint32_t, uint32_t>> direct;  // existing input edges
    for (const Edge& e : g.edges) direct.insert({e.from, e.to});
    bool any_info = false;
    for (std::size_t i = 0; i < w.nodes.size(); ++i) {
      const auto* info = w.nodes[i]->saved_info();
      if (!info) continue;
      any_info = true;
      const uint32_t op = static_cast<uint32_t>(element_of_node[i]);
      for (const SavedTensorInfo& s : *info) {
        auto [it, fresh] = saved.emplace(std::make_tuple(s.id, s.shape, s.dtype),
                                         static_cast<uint32_t>(g.elements.size()));
        if (fresh) {
          Element e;
          e.kind = Kind::saved;
          e.label = {"saved", shape_dtype(s.shape, s.dtype)};
          e.cluster = g.elements[op].cluster;
          e.order = g.elements[op].order;
          g.elements.push_back(std::move(e));
        } else if (g.elements[it->second].kind == Kind::saved) {  // shared: innermost common module
          const std::string*& c = g.elements[it->second].cluster;
          c = paths.common(c, g.elements[op].cluster);
        }
        if (!direct.count({it->second, op})) g.edges.push_back({it->second, op, true});
      }
    }
    if (!any_info && !w.nodes.empty())
      g.notes.push_back(
          "show_saved: no saved tensors were recorded (run the forward pass under "
          "xg::SavedTensorsInfoGuard)");
  }

  // Outputs, each below the node that made it.
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& t = outputs[k];
    Element e;
    e.kind = Kind::output;
    e.order = UINT64_MAX;
    std::string title = !t.name().empty()     ? t.name()
                        : outputs.size() == 1 ? std::string("output")
                                              : "output " + std::to_string(k);
    if (!t.grad_fn() && t.requires_grad()) {
      const std::string name = leaf_label(t);
      if (!name.empty()) title = name;
    }
    if (small(t)) {
      e.record = value_record(title, t);
    } else {
      e.label = {title, shape_dtype(t.shape(), t.dtype())};
      if (!t.requires_grad()) e.label.push_back("(no graph: requires_grad is false)");
    }
    const uint32_t id = static_cast<uint32_t>(g.elements.size());
    g.elements.push_back(std::move(e));
    if (t.grad_fn()) {
      auto it = w.index.find(t.grad_fn().get());
      if (it != w.index.end() && it->second < element_of_node.size())
        g.edges.push_back({static_cast<uint32_t>(element_of_node[it->second]), id, false});
    }
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Step 3: collapse modules. At level L, ops recorded under a path of L or more components are
// grouped by that path's first L components and by connectivity (each call of a reused module
// is its own element); leaves and saved tensors used only inside one group join it.

/// The element each element becomes at level `level` (itself when not collapsed).
std::vector<uint32_t> collapse_map(const Graph& g, std::size_t level, Paths& paths,
                                   std::vector<const std::string*>& group_path) {
  const std::size_t n = g.elements.size();
  group_path.assign(n, nullptr);
  for (std::size_t i = 0; i < n; ++i)
    if (g.elements[i].kind == Kind::op && path_depth(g.elements[i].cluster) >= level)
      group_path[i] = paths.prefix(g.elements[i].cluster, level);
  DisjointSets sets(n);
  for (const Edge& e : g.edges)
    if (group_path[e.from] && group_path[e.from] == group_path[e.to]) sets.unite(e.from, e.to);
  // Leaves and saved tensors whose consumers all fall in one group join that group.
  std::vector<int64_t> only(n, -1);  // -1 none yet, -2 several or an ungrouped consumer
  for (const Edge& e : g.edges) {
    const Kind k = g.elements[e.from].kind;
    if (k != Kind::leaf && k != Kind::saved) continue;
    int64_t& o = only[e.from];
    const int64_t target = group_path[e.to] ? static_cast<int64_t>(sets.find(e.to)) : -2;
    if (o == -1)
      o = target;
    else if (o != target)
      o = -2;
  }
  std::vector<uint32_t> map(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (only[i] >= 0)
      map[i] = sets.find(static_cast<uint32_t>(only[i]));
    else
      map[i] = group_path[i] ? sets.find(static_cast<uint32_t>(i)) : static_cast<uint32_t>(i);
  }
  return map;
}

std::size_t distinct(const std::vector<uint32_t>& map) {
  std::vector<char> seen(map.size(), 0);
  std::size_t count = 0;
  for (uint32_t m : map)
    if (!seen[m]) {
      seen[m] = 1;
      ++count;
    }
  return count;
}

/// The graph with elements merged as `map` says (module elements for merged groups).
Graph apply_map(const Graph& g, const std::vector<uint32_t>& map,
                const std::vector<const std::string*>& group_path, Paths& paths) {
  Graph out;
  out.notes = g.notes;
  std::vector<int64_t> new_id(g.elements.size(), -1);
  std::vector<std::size_t> ops(g.elements.size(), 0), leaves(g.elements.size(), 0);
  for (std::size_t i = 0; i < g.elements.size(); ++i) {
    if (g.elements[i].kind == Kind::op) ++ops[map[i]];
    if (g.elements[i].kind == Kind::leaf) ++leaves[map[i]];
  }
  for (std::size_t i = 0; i < g.elements.size(); ++i) {
    const uint32_t r = map[i];
    if (new_id[r] < 0) {
      new_id[r] = static_cast<int64_t>(out.elements.size());
      Element e = g.elements[r];
      if (group_path[r]) {
        e.kind = Kind::module;
        e.members = ops[r];
        e.member_leaves = leaves[r];
        const std::string& p = *group_path[r];
        e.label = {p, std::to_string(ops[r]) + (ops[r] == 1 ? " op" : " ops") +
                          (leaves[r] ? ", " + std::to_string(leaves[r]) +
                                           (leaves[r] == 1 ? " parameter" : " parameters")
                                     : "")};
        e.record.clear();
        const std::size_t dot = p.rfind('.');
        e.cluster = dot == std::string::npos ? nullptr : paths.intern(p.substr(0, dot));
      }
      out.elements.push_back(std::move(e));
    }
    Element& e = out.elements[new_id[r]];
    e.order = std::min(e.order, g.elements[i].order);
  }
  std::set<std::tuple<uint32_t, uint32_t, bool>> seen;
  for (const Edge& e : g.edges) {
    const uint32_t a = static_cast<uint32_t>(new_id[map[e.from]]);
    const uint32_t b = static_cast<uint32_t>(new_id[map[e.to]]);
    if (a != b && seen.insert({a, b, e.undirected}).second)
      out.edges.push_back({a, b, e.undirected});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Step 4: keep the `limit` elements nearest the outputs, plus one element for the rest.

Graph bound(const Graph& g, std::size_t limit, const std::string& why) {
  const std::size_t n = g.elements.size();
  std::vector<std::size_t> in_start(n + 1, 0);  // reversed adjacency: inputs of each element
  for (const Edge& e : g.edges) ++in_start[e.to + 1];
  for (std::size_t i = 0; i < n; ++i) in_start[i + 1] += in_start[i];
  std::vector<uint32_t> in(g.edges.size());
  std::vector<std::size_t> fill(in_start.begin(), in_start.end() - 1);
  for (std::size_t k = 0; k < g.edges.size(); ++k)
    in[fill[g.edges[k].to]++] = static_cast<uint32_t>(k);

  std::vector<int64_t> new_id(n, -1);
  std::vector<uint32_t> order;
  std::queue<uint32_t> queue;
  for (std::size_t i = 0; i < n; ++i)
    if (g.elements[i].kind == Kind::output) {
      new_id[i] = static_cast<int64_t>(order.size());
      order.push_back(static_cast<uint32_t>(i));
      queue.push(static_cast<uint32_t>(i));
    }
  while (!queue.empty() && order.size() < limit) {
    const uint32_t v = queue.front();
    queue.pop();
    for (std::size_t k = in_start[v]; k < in_start[v + 1] && order.size() < limit; ++k) {
      const uint32_t u = g.edges[in[k]].from;
      if (new_id[u] >= 0) continue;
      new_id[u] = static_cast<int64_t>(order.size());
      order.push_back(u);
      queue.push(u);
    }
  }
  Graph out;
  out.notes = g.notes;
  for (uint32_t i : order) out.elements.push_back(g.elements[i]);
  const uint32_t more = static_cast<uint32_t>(out.elements.size());
  std::set<uint32_t> cut;  // kept elements with an input that is not kept
  for (const Edge& e : g.edges) {
    if (new_id[e.to] < 0) continue;
    if (new_id[e.from] >= 0)
      out.edges.push_back({static_cast<uint32_t>(new_id[e.from]),
                           static_cast<uint32_t>(new_id[e.to]), e.undirected});
    else if (!e.undirected)  // a saved tensor left out is no missing input
      cut.insert(static_cast<uint32_t>(new_id[e.to]));
  }
  Element m;
  m.kind = Kind::more;
  m.order = 0;
  m.label = {why};
  out.elements.push_back(std::move(m));
  for (uint32_t c : cut) out.edges.push_back({more, c, false});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Step 5: topological order (inputs first; ties by creation order) and DOT.

/// Elements in topological order; edges that would close a cycle (possible only after merging
/// modules) are flagged so they do not constrain the ranks.
std::vector<uint32_t> topo_order(const Graph& g, std::vector<char>& back_edge) {
  const std::size_t n = g.elements.size();
  std::vector<std::size_t> indegree(n, 0), out_start(n + 1, 0);
  for (const Edge& e : g.edges) {
    ++indegree[e.to];
    ++out_start[e.from + 1];
  }
  for (std::size_t i = 0; i < n; ++i) out_start[i + 1] += out_start[i];
  std::vector<uint32_t> out(g.edges.size());
  std::vector<std::size_t> fill(out_start.begin(), out_start.end() - 1);
  for (std::size_t k = 0; k < g.edges.size(); ++k)
    out[fill[g.edges[k].from]++] = static_cast<uint32_t>(k);

  using Key = std::pair<uint64_t, uint32_t>;
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> ready;
  std::set<Key> waiting;  // elements with inputs still unplaced (used only on a cycle)
  for (std::size_t i = 0; i < n; ++i) {
    const Key k{g.elements[i].order, static_cast<uint32_t>(i)};
    if (indegree[i] == 0)
      ready.push(k);
    else
      waiting.insert(k);
  }
  back_edge.assign(g.edges.size(), 0);
  std::vector<char> placed(n, 0);
  std::vector<uint32_t> order;
  order.reserve(n);
  while (order.size() < n) {
    uint32_t v;
    if (!ready.empty()) {
      v = ready.top().second;
      ready.pop();
    } else {  // a cycle: place the earliest waiting element; its unplaced inputs are back edges
      v = waiting.begin()->second;
      for (std::size_t k = 0; k < g.edges.size(); ++k)
        if (g.edges[k].to == v && !placed[g.edges[k].from]) back_edge[k] = 1;
    }
    waiting.erase({g.elements[v].order, v});
    placed[v] = 1;
    order.push_back(v);
    for (std::size_t k = out_start[v]; k < out_start[v + 1]; ++k) {
      const uint32_t w = g.edges[out[k]].to;
      if (placed[w] || back_edge[out[k]]) continue;
      if (--indegree[w] == 0) {
        waiting.erase({g.elements[w].order, w});
        ready.push({g.elements[w].order, w});
      }
    }
  }
  return order;
}

const char* fill_colour(Kind k) {
  switch (k) {
    case Kind::leaf:
      return "lightblue";
    case Kind::output:
      return "darkolivegreen1";
    case Kind::saved:
      return "orange";
    case Kind::module:
      return "gainsboro";
    case Kind::more:
      return "white";
    case Kind::op:
      break;
  }
  return "lightgrey";
}

std::string write_dot(const Graph& g, const GraphOptions& o) {
  std::vector<char> back_edge;
  const std::vector<uint32_t> order = topo_order(g, back_edge);
  std::vector<uint32_t> rank(g.elements.size());
  for (std::size_t i = 0; i < order.size(); ++i) rank[order[i]] = static_cast<uint32_t>(i);
  const bool lr = o.rankdir() == "LR" || o.rankdir() == "RL";

  std::ostringstream os;
  os << "digraph xgrad {\n";
  os << "  graph [rankdir=" << o.rankdir() << ", fontname=\"Helvetica\", fontsize=12";
  std::vector<std::string> caption;
  if (!o.title().empty()) caption.push_back(o.title());
  for (const std::string& n : g.notes) caption.push_back(n);
  if (!caption.empty()) os << ", labelloc=t, label=" << quote_label(caption);
  os << "];\n";
  os << "  node [style=filled, shape=box, align=left, fontsize=10, height=0.2, "
        "fontname=\"monospace\"];\n";
  os << "  edge [arrowsize=0.7];\n";
  for (uint32_t v : order) {
    const Element& e = g.elements[v];
    os << "  n" << v << " [";
    if (!e.record.empty())
      os << "shape=record, label=\"" << (lr ? "{" : "") << e.record << (lr ? "}" : "") << "\"";
    else
      os << "label=" << quote_label(e.label);
    if (e.kind == Kind::module) os << ", shape=box3d";
    if (e.kind == Kind::more) os << ", shape=note, style=\"filled,dashed\"";
    if (e.kind == Kind::saved) os << ", shape=box, style=\"filled,rounded\"";
    os << ", fillcolor=" << fill_colour(e.kind) << "];\n";
  }
  // Clusters: every element's path and its prefixes, nested, children right after parents.
  if (o.cluster_modules()) {
    std::map<std::vector<std::string>, std::vector<uint32_t>> clusters;
    for (uint32_t v : order) {
      const std::string* c = g.elements[v].cluster;
      if (!c) continue;
      std::vector<std::string> parts = split_path(*c);
      clusters[parts].push_back(v);
      while (parts.size() > 1) {
        parts.pop_back();
        clusters[parts];
      }
    }
    std::vector<std::vector<std::string>> open;
    std::size_t id = 0;
    auto indent = [&] { return std::string(2 * (open.size() + 1), ' '); };
    auto is_prefix = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
      return a.size() < b.size() && std::equal(a.begin(), a.end(), b.begin());
    };
    for (const auto& [parts, members] : clusters) {
      while (!open.empty() && !is_prefix(open.back(), parts)) {
        open.pop_back();
        os << indent() << "}\n";
      }
      std::string path;
      for (const std::string& p : parts) path += (path.empty() ? "" : ".") + p;
      os << indent() << "subgraph cluster_" << id++ << " {\n";
      open.push_back(parts);
      os << indent() << "label=" << quote(path)
         << "; style=rounded; color=gray55; fontcolor=gray25; fontsize=10;\n";
      if (!members.empty()) {
        os << indent();
        for (uint32_t v : members) os << "n" << v << "; ";
        os << "\n";
      }
    }
    while (!open.empty()) {
      open.pop_back();
      os << indent() << "}\n";
    }
  }
  // Edges, in the order of their sources.
  std::vector<uint32_t> by_source(g.edges.size());
  std::iota(by_source.begin(), by_source.end(), 0u);
  std::stable_sort(by_source.begin(), by_source.end(), [&](uint32_t a, uint32_t b) {
    return std::make_pair(rank[g.edges[a].from], rank[g.edges[a].to]) <
           std::make_pair(rank[g.edges[b].from], rank[g.edges[b].to]);
  });
  for (uint32_t k : by_source) {
    const Edge& e = g.edges[k];
    os << "  n" << e.from << " -> n" << e.to;
    if (e.undirected || back_edge[k]) {
      os << " [";
      if (e.undirected) os << "dir=none, color=darkorange3";
      if (e.undirected && back_edge[k]) os << ", ";
      if (back_edge[k]) os << "constraint=false, style=dashed";
      os << "]";
    }
    os << ";\n";
  }
  os << "}\n";
  return os.str();
}

std::string with_commas(std::size_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

}  // namespace

std::string to_dot(const std::vector<Tensor>& outputs, const GraphOptions& o) {
  if (outputs.empty()) fail("to_dot: expected at least one output tensor, got none");
  for (std::size_t i = 0; i < outputs.size(); ++i)
    if (!outputs[i].defined()) fail("to_dot: output ", i, " is an undefined tensor");
  if (o.max_nodes() < 1) fail("to_dot: max_nodes must be at least 1, got 0");
  static const std::set<std::string> dirs{"TB", "BT", "LR", "RL"};
  if (!dirs.count(o.rankdir()))
    fail("to_dot: rankdir must be TB, BT, LR or RL, got '", clean_utf8(o.rankdir()), "'");

  // Walk at most this many nodes: enough to collapse any model's modules, bounded for chains.
  const std::size_t walk_limit = std::max<std::size_t>(100000, 20 * o.max_nodes());
  const Walk w = walk(outputs, walk_limit);
  Paths paths;
  std::vector<int64_t> element_of_node;
  Graph g = make_elements(w, outputs, o, paths, element_of_node);

  if (!w.complete) {  // a huge graph: no module collapse, only the part nearest the outputs
    g = bound(g, o.max_nodes(), "more ops not drawn (over " + with_commas(walk_limit) + " in all)");
    g.notes.push_back("truncated: the graph has more than " + with_commas(walk_limit) +
                      " ops; only the " + with_commas(o.max_nodes()) +
                      " nodes nearest the outputs are drawn");
    return write_dot(g, o);
  }
  if (g.elements.size() > o.max_nodes()) {
    std::size_t deepest = 0;
    for (const Element& e : g.elements)
      if (e.kind == Kind::op) deepest = std::max(deepest, path_depth(e.cluster));
    const std::size_t before = g.elements.size();
    for (std::size_t level = deepest; level >= 1; --level) {
      std::vector<const std::string*> group_path;
      const std::vector<uint32_t> map = collapse_map(g, level, paths, group_path);
      if (distinct(map) <= o.max_nodes() || level == 1) {
        g = apply_map(g, map, group_path, paths);
        g.notes.push_back("collapsed: modules at depth " + std::to_string(level) +
                          " drawn as single nodes (" + with_commas(before) + " nodes > max_nodes " +
                          with_commas(o.max_nodes()) + ")");
        break;
      }
    }
    if (g.elements.size() > o.max_nodes()) {
      const std::size_t hidden = g.elements.size() - o.max_nodes();
      g = bound(g, o.max_nodes(), with_commas(hidden) + " more nodes not drawn");
      g.notes.push_back("truncated: only the " + with_commas(o.max_nodes()) +
                        " nodes nearest the outputs are drawn");
    }
  }
  return write_dot(g, o);
}

// ---------------------------------------------------------------------------------------------
// Rendering with libgvc. Graphviz keeps global state (the parser, the error function), so every
// call into it holds one mutex; its messages are collected into the exception, never printed.

namespace {

std::mutex& graphviz_mutex() {
  static std::mutex m;
  return m;
}

std::string* graphviz_messages = nullptr;  // guarded by graphviz_mutex

int collect_message(char* text) {
  if (graphviz_messages && text) *graphviz_messages += text;
  return 0;
}

/// While alive (with the mutex held): Graphviz's warnings and errors go to text, not stderr.
class MessageCapture {
 public:
  MessageCapture() {
    graphviz_messages = &text_;
    prev_fn_ = agseterrf(&collect_message);
    prev_level_ = agseterr(AGWARN);
    agreseterrors();
  }
  ~MessageCapture() {
    agseterrf(prev_fn_);
    agseterr(prev_level_);
    graphviz_messages = nullptr;
  }
  MessageCapture(const MessageCapture&) = delete;
  MessageCapture& operator=(const MessageCapture&) = delete;
  /// What Graphviz said, on one line ("no message" if nothing).
  std::string text() const {
    std::string s;
    for (char c : text_) s += (c == '\n' || c == '\r') ? ' ' : c;
    for (const char* prefix : {"Error: ", "Warning: "})  // Graphviz's, redundant here
      for (std::size_t at; (at = s.find(prefix)) != std::string::npos;)
        s.erase(at, std::strlen(prefix));
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s.empty() ? "Graphviz gave no message" : s;
  }

 private:
  std::string text_;
  agusererrf prev_fn_ = nullptr;
  agerrlevel_t prev_level_ = AGWARN;
};

GVC_t* graphviz_context() {  // one per process (loading plugins costs ~5 ms), under the mutex
  static GVC_t* gvc = gvContext();
  return gvc;
}

struct GraphCloser {
  GVC_t* gvc;
  Agraph_t* g;
  bool laid_out = false;
  ~GraphCloser() {
    if (laid_out) gvFreeLayout(gvc, g);
    if (g) agclose(g);
  }
};

/// Lowercase extension of the file name in `path` ("" if none).
std::string extension(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

/// Throws std::runtime_error unless `path` can be created or replaced.
void check_writable(const std::string& path) {
  if (path.empty()) fail("render: empty output path");
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw std::runtime_error("render: cannot write '" + path + "': directory '" + dir +
                             "' does not exist");
  if (!S_ISDIR(st.st_mode))
    throw std::runtime_error("render: cannot write '" + path + "': '" + dir +
                             "' is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw std::runtime_error("render: cannot write '" + path + "': directory '" + dir +
                             "' is not writable");
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw std::runtime_error("render: cannot write '" + path + "': it is a directory");
}

/// The file render writes: a temporary file beside `path` (made before any layout work, so an
/// unwritable place fails early), renamed over `path` by commit(), removed if never committed.
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp-XXXXXX") {
    fd_ = ::mkstemp(tmp_.data());
    if (fd_ < 0) fail_errno();
  }
  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// Writes `size` bytes, renames the file to its path.
  void commit(const char* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_errno();
      done += static_cast<std::size_t>(n);
    }
    ::fchmod(fd_, 0644);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 || ::rename(tmp_.c_str(), path_.c_str()) != 0) fail_errno();
    committed_ = true;
  }

 private:
  [[noreturn]] void fail_errno() const {
    throw std::runtime_error("render: cannot write '" + path_ + "': " + std::strerror(errno));
  }
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Sets the graph's size (inches) to at most w x h, keeping a smaller size the DOT asked for.
void cap_size(Agraph_t* g, double w, double h) {
  const char* given = agget(g, const_cast<char*>("size"));
  double gw = 0, gh = 0;
  if (given && *given) {
    const int n = std::sscanf(given, "%lf,%lf", &gw, &gh);
    if (n == 1) gh = gw;
    if (n >= 1 && gw > 0 && gh > 0) {
      w = std::min(w, gw);
      h = std::min(h, gh);
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f,%.3f", w, h);
  agsafeset(g, const_cast<char*>("size"), buf, const_cast<char*>(""));
}

}  // namespace

void render(const std::string& dot, const std::string& path, const RenderOptions& o) {
  const std::string ext = extension(path);
  static const std::map<std::string, const char*> formats{
      {"svg", "svg"}, {"png", "png"}, {"pdf", "pdf"}, {"dot", nullptr}, {"gv", nullptr}};
  const auto format = formats.find(ext);
  if (format == formats.end())
    fail("render: unknown format ", ext.empty() ? "(no extension)" : "'." + ext + "'", " of '",
         path, "' (use .svg, .png, .pdf, .dot or .gv)");
  if (!(o.dpi() > 0 && o.dpi() <= 2400))
    fail("render: dpi must be in (0, 2400], got ", o.dpi(), " (writing '", path, "')");
  if (o.max_pixels() < 16)
    fail("render: max_pixels must be at least 16, got ", o.max_pixels(), " (writing '", path, "')");
  if (dot.size() > o.max_bytes())
    fail("render: the DOT text has ", dot.size(), " bytes, more than max_bytes ", o.max_bytes(),
         " (writing '", path, "')");
  // Graphviz reads a C string: text after a NUL byte would be silently dropped (and .dot output
  // would write what was never checked).
  if (const std::size_t nul = dot.find('\0'); nul != std::string::npos)
    fail("render: the DOT text holds a NUL byte at offset ", nul, " (writing '", path, "')");
  check_writable(path);
  OutputFile out(path);

  std::lock_guard<std::mutex> lock(graphviz_mutex());
  MessageCapture messages;
  GVC_t* gvc = graphviz_context();
  if (!gvc) throw std::runtime_error("render: Graphviz could not start (writing '" + path + "')");
  GraphCloser graph{gvc, agmemread(dot.c_str())};
  if (!graph.g)
    fail("render: DOT syntax error: ",
         dot.find_first_not_of(" \t\r\n") == std::string::npos ? std::string("the text is empty")
                                                               : messages.text(),
         " (writing '", path, "')");
  if (!format->second) {  // .dot / .gv: the text itself, now known to parse
    out.commit(dot.data(), dot.size());
    return;
  }
  const std::size_t nodes = static_cast<std::size_t>(agnnodes(graph.g));
  if (nodes > o.max_nodes())
    fail("render: the graph has ", nodes, " nodes, more than max_nodes ", o.max_nodes(),
         " (its layout could take minutes); draw less (to_dot's max_nodes) (writing '", path, "')");
  const std::size_t edges = static_cast<std::size_t>(agnedges(graph.g));
  if (edges > o.max_edges())
    fail("render: the graph has ", edges, " edges, more than max_edges ", o.max_edges(),
         " (its layout could take minutes); draw less (to_dot's max_nodes) (writing '", path, "')");
  if (ext == "png") {
    char dpi[32];
    std::snprintf(dpi, sizeof dpi, "%g", o.dpi());
    agsafeset(graph.g, const_cast<char*>("dpi"), dpi, const_cast<char*>(""));
    const double inches = static_cast<double>(o.max_pixels()) / o.dpi();
    cap_size(graph.g, inches, inches);
  } else if (ext == "pdf") {
    cap_size(graph.g, 200, 200);  // PDF viewers' page-size limit
  }
  if (gvLayout(gvc, graph.g, "dot") != 0)
    throw std::runtime_error("render: Graphviz layout failed: " + messages.text() + " (writing '" +
                             path + "')");
  graph.laid_out = true;
  if (ext == "png") {  // natural size in pixels (bb is in points) against the cap
    const boxf bb = GD_bb(graph.g);
    const double w = (bb.UR.x - bb.LL.x) * o.dpi() / 72, h = (bb.UR.y - bb.LL.y) * o.dpi() / 72;
    const double cap = static_cast<double>(o.max_pixels());
    const double scale = std::min({1.0, cap / std::max(w, 1.0), cap / std::max(h, 1.0)});
    if (scale < o.min_scale())
      fail("render: the drawing is ", static_cast<long>(w), " x ", static_cast<long>(h),
           " pixels; fitting it in max_pixels ", o.max_pixels(), " would scale it to ", scale,
           ", below min_scale ", o.min_scale(),
           " (unreadable): write .svg, or draw fewer nodes (GraphOptions::max_nodes) (writing '",
           path, "')");
  }
  char* data = nullptr;
  unsigned int length = 0;
  if (gvRenderData(gvc, graph.g, format->second, &data, &length) != 0 || !data) {
    if (data) gvFreeRenderData(data);
    throw std::runtime_error("render: Graphviz could not render " + std::string(format->second) +
                             ": " + messages.text() + " (writing '" + path + "')");
  }
  struct Freer {
    char* p;
    ~Freer() { gvFreeRenderData(p); }
  } freer{data};
  out.commit(data, length);
}

void render(const std::vector<Tensor>& outputs, const std::string& path, const GraphOptions& graph,
            const RenderOptions& options) {
  render(to_dot(outputs, graph), path, options);
}

}  // namespace xg::viz
