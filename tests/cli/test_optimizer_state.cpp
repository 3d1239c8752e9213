// The optimizer state file of `xgrad train --resume` (cli/optimizer_state.cpp): a round trip, and
// damaged metadata or tensor names give one clear error naming the file (the fuzz target
// tests/fuzz/fuzz_cli_files found that the old reader indexed missing JSON keys).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cli/common.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

struct TempFile {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("xgrad_optimizer_state_" + std::to_string(::getpid()) + ".safetensors"))
                         .string();
  ~TempFile() { std::filesystem::remove(path); }
};

/// A file with save_optimizer's layout but the given "groups" metadata and tensors.
void write_state(const std::string& path, const std::string& groups,
                 const nn::NamedTensors& tensors = {}) {
  nn::save(tensors, path, {{"optimizer", "SGD"}, {"epoch", "1"}, {"groups", groups}});
}

}  // namespace

TEST_CASE("optimizer state: save_optimizer then load_optimizer restores buffers and steps") {
  TempFile f;
  nn::Linear net(2, 3);
  optim::SGD opt(net.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  net(xg::ones({4, 2})).sum().backward();
  opt.step();
  xgcli::save_optimizer(opt, f.path, 1);
  const optim::OptimizerStateDict d = xgcli::read_optimizer_state(f.path);
  REQUIRE(d.groups.size() == 1);
  CHECK(d.optimizer == opt.state_dict().optimizer);
  CHECK(d.groups[0].shapes == std::vector<Shape>{{3, 2}, {3}});
  CHECK(d.groups[0].doubles.at("momentum") == 0.9);
  REQUIRE(d.groups[0].state.size() == 2);
  CHECK(d.groups[0].state[0].buffers.count("momentum_buffer") == 1);
  optim::SGD fresh(net.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  xgcli::load_optimizer(fresh, f.path);
  const Tensor a = fresh.state_dict().groups[0].state[0].buffers.at("momentum_buffer");
  const Tensor b = opt.state_dict().groups[0].state[0].buffers.at("momentum_buffer");
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(fresh.state_dict().groups[0].state[0].step == opt.state_dict().groups[0].state[0].step);
}

TEST_CASE("optimizer state: malformed metadata and tensor names are refused naming the file") {
  TempFile f;
  const std::string at = "optimizer state " + f.path + ": ";
  const std::string tail = " (delete it to restart the optimizer)";
  write_state(f.path, "[{\"doubles\":{\"lr\":\"0.1\"}}]");  // no "shapes": indexed blindly before
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "group 0: 'shapes' is missing or not an array" + tail);
  write_state(f.path, "{\"shapes\":[]}");
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "metadata 'groups' is not a JSON array" + tail);
  write_state(f.path, "[{\"shapes\":[[3]]");
  CHECK(error_of([&] {
          xgcli::read_optimizer_state(f.path);
        }).find(at + "metadata 'groups' is not valid JSON") == 0);
  write_state(f.path, "[{\"doubles\":{\"lr\":\"fast\"},\"shapes\":[[3]]}]");  // was std::stod's
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "group 0: option 'lr' = 'fast' is not a number" + tail);
  write_state(f.path, "[{\"shapes\":[[3]],\"steps\":[1,2]}]");
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "group 0: 'steps' is not an array of 1 step counts" + tail);
  for (const std::string name : {"gx.p0.momentum_buffer", "g0", "g0.p0", "g0.p0.", "q0.p0.m",
                                 "g0.p99999999999999999999.m"}) {
    write_state(f.path, "[{\"shapes\":[[3]]}]", {{name, xg::zeros({3})}});
    CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
          at + "tensor '" + name + "' is not named g<group>.p<parameter>.<buffer>" + tail);
  }
  write_state(f.path, "[{\"shapes\":[[3]]}]", {{"g1.p0.m", xg::zeros({3})}});
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "tensor 'g1.p0.m' names no parameter (the file has 1 groups)" + tail);
  nn::save(nn::NamedTensors{}, f.path, {{"groups", "[]"}});
  CHECK(error_of([&] { xgcli::read_optimizer_state(f.path); }) ==
        at + "no 'optimizer' in its metadata" + tail);
}
