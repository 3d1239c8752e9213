// The optimizer state file of `xgrad train` (optimizer.safetensors, read by --resume): buffers as
// tensors, options and step counts as JSON in the metadata. The reader validates everything it
// reads, since the file may be damaged or hand-edited: every error names the file and the field.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli/common.hpp"
#include "optim/optim.hpp"

namespace xgcli {

void save_optimizer(const optim::Optimizer& opt, const std::string& path, int64_t epoch) {
  const optim::OptimizerStateDict d = opt.state_dict();
  nlohmann::json groups = nlohmann::json::array();
  nn::NamedTensors tensors;
  for (std::size_t g = 0; g < d.groups.size(); ++g) {
    const auto& group = d.groups[g];
    nlohmann::json j;
    for (const auto& [k, v] : group.doubles) j["doubles"][k] = fmt(v, 17);  // text: NaN-safe
    for (const auto& [k, v] : group.bools) j["bools"][k] = v;
    j["shapes"] = group.shapes;
    for (std::size_t p = 0; p < group.state.size(); ++p) {
      j["steps"].push_back(group.state[p].step);
      for (const auto& [name, t] : group.state[p].buffers)
        tensors.emplace_back("g" + std::to_string(g) + ".p" + std::to_string(p) + "." + name, t);
    }
    groups.push_back(j);
  }
  nn::save(
      tensors, path,
      {{"optimizer", d.optimizer}, {"epoch", std::to_string(epoch)}, {"groups", groups.dump()}});
}

namespace {

/// A decimal index of at most 9 digits at s[begin, end); false if it is not one.
bool parse_index(const std::string& s, std::size_t begin, std::size_t end, std::size_t& out) {
  if (begin >= end || end > s.size() || end - begin > 9) return false;
  out = 0;
  for (std::size_t i = begin; i < end; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + static_cast<std::size_t>(s[i] - '0');
  }
  return true;
}

}  // namespace

optim::OptimizerStateDict read_optimizer_state(const std::string& path) {
  nn::Checkpoint ck = nn::load_file(path);
  const std::string where = "optimizer state " + path;
  auto bad = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error(where + ": " + what + " (delete it to restart the optimizer)");
  };
  optim::OptimizerStateDict d;
  const auto opt_it = ck.metadata.find("optimizer");
  const auto groups_it = ck.metadata.find("groups");
  if (opt_it == ck.metadata.end()) throw bad("no 'optimizer' in its metadata");
  if (groups_it == ck.metadata.end()) throw bad("no 'groups' in its metadata");
  d.optimizer = opt_it->second;
  nlohmann::json groups;
  try {
    groups = nlohmann::json::parse(groups_it->second);
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("metadata 'groups' is not valid JSON (") + e.what() + ")");
  }
  if (!groups.is_array()) throw bad("metadata 'groups' is not a JSON array");
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const nlohmann::json& j = groups[g];
    const std::string at = "group " + std::to_string(g);
    if (!j.is_object()) throw bad(at + " is not a JSON object");
    optim::OptimizerStateDict::Group group;
    if (j.contains("doubles")) {
      if (!j.at("doubles").is_object()) throw bad(at + ": 'doubles' is not an object");
      for (const auto& [k, v] : j.at("doubles").items()) {
        if (!v.is_string()) throw bad(at + ": option '" + k + "' is not a number text");
        const std::string text = v.get<std::string>();
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size())
          throw bad(at + ": option '" + k + "' = '" + text + "' is not a number");
        group.doubles[k] = x;
      }
    }
    if (j.contains("bools")) {
      if (!j.at("bools").is_object()) throw bad(at + ": 'bools' is not an object");
      for (const auto& [k, v] : j.at("bools").items()) {
        if (!v.is_boolean()) throw bad(at + ": flag '" + k + "' is not true or false");
        group.bools[k] = v.get<bool>();
      }
    }
    if (!j.contains("shapes") || !j.at("shapes").is_array())
      throw bad(at + ": 'shapes' is missing or not an array");
    for (const nlohmann::json& s : j.at("shapes")) {
      if (!s.is_array()) throw bad(at + ": a shape is not an array");
      Shape shape;
      for (const nlohmann::json& n : s) {
        if (!n.is_number_unsigned()) throw bad(at + ": shape " + s.dump() + " is not all sizes");
        shape.push_back(n.get<std::size_t>());
      }
      group.shapes.push_back(shape);
    }
    group.state.resize(group.shapes.size());
    if (j.contains("steps")) {
      const nlohmann::json& steps = j.at("steps");
      if (!steps.is_array() || steps.size() != group.state.size())
        throw bad(at + ": 'steps' is not an array of " + std::to_string(group.state.size()) +
                  " step counts");
      for (std::size_t p = 0; p < steps.size(); ++p) {
        if (!steps[p].is_number_integer() || steps[p].get<int64_t>() < 0)
          throw bad(at + ": step count " + steps[p].dump() + " is not a count");
        group.state[p].step = steps[p].get<int64_t>();
      }
    }
    d.groups.push_back(std::move(group));
  }
  for (const auto& [name, t] : ck.tensors) {  // "g0.p3.exp_avg"
    const auto dot1 = name.find('.');
    const auto dot2 = dot1 == std::string::npos ? dot1 : name.find('.', dot1 + 1);
    std::size_t g = 0, p = 0;
    if (dot2 == std::string::npos || name[0] != 'g' || name[dot1 + 1] != 'p' ||
        !parse_index(name, 1, dot1, g) || !parse_index(name, dot1 + 2, dot2, p) ||
        dot2 + 1 == name.size())
      throw bad("tensor '" + name + "' is not named g<group>.p<parameter>.<buffer>");
    if (g >= d.groups.size() || p >= d.groups[g].state.size())
      throw bad("tensor '" + name + "' names no parameter (the file has " +
                std::to_string(d.groups.size()) + " groups)");
    d.groups[g].state[p].buffers[name.substr(dot2 + 1)] = t;
  }
  return d;
}

void load_optimizer(optim::Optimizer& opt, const std::string& path) {
  const optim::OptimizerStateDict d = read_optimizer_state(path);
  try {
    opt.load_state_dict(d);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("optimizer state " + path + ": " + e.what());
  }
}

}  // namespace xgcli
