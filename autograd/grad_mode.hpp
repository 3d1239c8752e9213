#pragma once
// Thread-local grad modes as RAII guards (like torch::NoGradGuard).
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

}  // namespace xg
