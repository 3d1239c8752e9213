#pragma once
// Thread-local grad modes as RAII guards (like torch::NoGradGuard), and module scopes.
#include <string>

namespace xg {

/// True when ops record the graph (the default); thread-local.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);
/// True while AnomalyModeGuard is active on this thread.
bool is_anomaly_enabled();

/// Disables graph recording in its scope (optimizer updates, evaluation).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// Re-enables graph recording in its scope (inside a NoGradGuard).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

/// In its scope, backward checks every gradient for NaN/Inf and names the op that made it.
class AnomalyModeGuard {
 public:
  AnomalyModeGuard();
  ~AnomalyModeGuard();
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;

 private:
  bool prev_;
};

/// True while SavedTensorsInfoGuard is active on this thread.
bool is_saved_info_enabled();
/// In its scope, each recorded node remembers the shape, dtype and buffer of every tensor it
/// saves for backward (Node::saved_info(), drawn by viz::GraphOptions::show_saved). Off by
/// default: without it recording costs nothing extra.
class SavedTensorsInfoGuard {
 public:
  SavedTensorsInfoGuard();
  ~SavedTensorsInfoGuard();
  SavedTensorsInfoGuard(const SavedTensorsInfoGuard&) = delete;
  SavedTensorsInfoGuard& operator=(const SavedTensorsInfoGuard&) = delete;

 private:
  bool prev_;
};

/// The module path nodes are recorded under on this thread ("features.0"), or nullptr outside
/// any module. The strings are interned: equal paths are the same pointer, valid forever.
const std::string* current_scope();
/// Makes `path` ("features.0") the current scope for its lifetime (nn::Module's operator() enters
/// the module's dotted path); an empty path keeps the current scope. Nodes created inside record
/// it.
class ScopeGuard {
 public:
  explicit ScopeGuard(const std::string& path);
  ~ScopeGuard();
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  const std::string* prev_;
};

}  // namespace xg
