#pragma once
// Helpers shared by the test files.
#include <exception>
#include <functional>
#include <string>

namespace xg::test {

/// The message of the exception `f` throws, or "(no error)" if it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace xg::test
