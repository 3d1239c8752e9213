// Checks a report.html written by `xgrad`: it must be well-formed XML (XHTML-compatible markup,
// parsed with expat), hold no scripts, have unique ids, and reference only what exists: every
// "#id" an element of the page, every relative src/href a file next to the report, nothing on
// the network. Usage: check_report REPORT.html [MIN_SVG=1]; prints what it found, exit 1 on a
// problem.
#include <expat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct State {
  std::filesystem::path dir;
  std::set<std::string> ids;
  std::vector<std::string> fragments, problems;
  int svgs = 0, tables = 0, links = 0;
};

void start(void* data, const XML_Char* name, const XML_Char** attrs) {
  State& s = *static_cast<State*>(data);
  const std::string element = name;
  if (element == "svg") ++s.svgs;
  if (element == "table") ++s.tables;
  if (element == "script") s.problems.push_back("a <script> element");
  for (int i = 0; attrs[i]; i += 2) {
    const std::string key = attrs[i], value = attrs[i + 1];
    if (key == "id" && !s.ids.insert(value).second) s.problems.push_back("duplicate id " + value);
    if (key != "src" && key != "href" && key != "xlink:href") continue;
    if (value.rfind('#', 0) == 0) {
      s.fragments.push_back(value.substr(1));
    } else if (value.find("://") != std::string::npos || value.rfind("//", 0) == 0) {
      s.problems.push_back("a network reference " + value);
    } else if (value.rfind("data:", 0) != 0) {
      ++s.links;
      if (!std::filesystem::exists(s.dir / value)) s.problems.push_back("a missing file " + value);
    }
  }
}

void end(void*, const XML_Char*) {}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: check_report REPORT.html [MIN_SVG]\n";
    return 2;
  }
  const std::string path = argv[1];
  const int min_svg = argc > 2 ? std::atoi(argv[2]) : 1;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::cerr << "check_report: cannot read " << path << "\n";
    return 1;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();

  State s;
  s.dir = std::filesystem::path(path).parent_path();
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &s);
  XML_SetElementHandler(parser, start, end);
  if (XML_Parse(parser, text.data(), static_cast<int>(text.size()), 1) == XML_STATUS_ERROR) {
    std::cerr << "check_report: " << path
              << " is not well-formed: " << XML_ErrorString(XML_GetErrorCode(parser)) << " at line "
              << XML_GetCurrentLineNumber(parser) << "\n";
    XML_ParserFree(parser);
    return 1;
  }
  XML_ParserFree(parser);
  for (const std::string& id : s.fragments)
    if (!s.ids.count(id)) s.problems.push_back("a reference to a missing id #" + id);
  if (s.svgs < min_svg)
    s.problems.push_back(std::to_string(s.svgs) + " inline SVG pictures, expected " +
                         std::to_string(min_svg) + " or more");
  for (const std::string& p : s.problems)
    std::cerr << "check_report: " << path << " has " << p << "\n";
  std::cout << path << ": well-formed, " << s.svgs << " inline SVG, " << s.tables << " tables, "
            << s.links << " links to files, " << s.ids.size() << " ids, "
            << (s.problems.empty() ? "no problems"
                                   : std::to_string(s.problems.size()) + " problems")
            << "\n";
  return s.problems.empty() ? 0 : 1;
}
