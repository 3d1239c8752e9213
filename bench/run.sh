#!/usr/bin/env bash
# Runs xgrad's benchmarks and their PyTorch twins side by side, alternating sides, and prints
# both sides' RESULT lines and the xgrad/torch ratios. Only ratios from one run count.
#
# Usage: bash bench/run.sh [BUILD_DIR=build]     (BUILD_DIR relative to the repo root or absolute)
# Env:   REPEATS (default 7) for the overhead benchmarks; PYTHON (default /usr/bin/python3);
#        FMNIST_EPOCHS (default 1) for the Fashion-MNIST training benchmarks, FMNIST=0 skips them,
#        ONLY=fmnist runs only them; LANDSCAPE=0 skips the landscape evaluation benchmark
#        (LANDSCAPE_GRID, default -1:1:7), ONLY=landscape runs only it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
torch_dir="$(cd "$(dirname "$0")/../../shared/bench" && pwd)"
build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
py="${PYTHON:-/usr/bin/python3}"
reps="${REPEATS:-7}"
fm_epochs="${FMNIST_EPOCHS:-1}"
only="${ONLY:-}"
ls_grid="${LANDSCAPE_GRID:--1:1:7}"
benches="bench_overhead bench_deep"
[ -z "$only" ] || benches=""
{ [ -n "$only" ] && [ "$only" != fmnist ]; } || [ "${FMNIST:-1}" = 0 ] ||
  benches="$benches bench_fmnist"
{ [ -n "$only" ] && [ "$only" != landscape ]; } || [ "${LANDSCAPE:-1}" = 0 ] ||
  benches="$benches bench_landscape"

for b in $benches; do
  if [ ! -x "$build/bench/$b" ]; then
    echo "run.sh: $build/bench/$b not found; build it first:" >&2
    echo "  cmake -S $root -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build -j2 --target $benches" >&2
    exit 1
  fi
done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# run SIDE NAME CMD...: runs CMD, prints its output prefixed by SIDE, keeps it for the table.
run() {
  local side="$1" name="$2"
  shift 2
  echo "## $side $name: $*"
  local rc=0
  "$@" >"$out/$side.$name" 2>"$out/$side.$name.err" || rc=$?
  sed "s/^/$side /" "$out/$side.$name"
  if [ "$rc" -ne 0 ]; then
    echo "## $side $name exited with status $rc; stderr tail:"
    tail -n 5 "$out/$side.$name.err" | sed "s/^/$side ! /"
  fi
}

echo "# bench/run.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(hostname) nproc=$(nproc) build=$build"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$only" ]; then
  export BENCH_TORCH_THREADS=1 BENCH_BLAS_THREADS=2
  run xgrad overhead "$build/bench/bench_overhead" "$reps"
  run torch overhead "$py" "$torch_dir/torch_overhead.py" "$reps"
  unset BENCH_TORCH_THREADS BENCH_BLAS_THREADS
  run xgrad deep "$build/bench/bench_deep"
  run torch deep "$py" "$torch_dir/torch_deep.py"
fi
if { [ -z "$only" ] || [ "$only" = fmnist ]; } && [ "${FMNIST:-1}" != 0 ]; then
  # PyTorch at its fastest setting per model (../shared/bench/README.md): one torch thread and
  # two OpenBLAS threads; the cnn both without and with mkldnn (the table takes the faster).
  # xgrad gets the same OpenBLAS setting.
  export BENCH_TORCH_THREADS=1 BENCH_BLAS_THREADS=2
  for m in softmax mlp cnn; do
    run xgrad "fmnist_$m" "$build/bench/bench_fmnist" "$m" "$fm_epochs"
    if [ "$m" = cnn ]; then
      run torch "fmnist_${m}_nomkldnn" "$py" "$torch_dir/torch_fmnist.py" "$m" "$fm_epochs" 64 --no-mkldnn
      run torch "fmnist_$m" "$py" "$torch_dir/torch_fmnist.py" "$m" "$fm_epochs" 64
    else
      run torch "fmnist_$m" "$py" "$torch_dir/torch_fmnist.py" "$m" "$fm_epochs" 64
    fi
  done
  unset BENCH_TORCH_THREADS BENCH_BLAS_THREADS
fi
if { [ -z "$only" ] || [ "$only" = landscape ]; } && [ "${LANDSCAPE:-1}" != 0 ]; then
  # Per grid point, the MLP over the 10,000 test images; each side reports its best thread count.
  run xgrad landscape "$build/bench/bench_landscape" "$ls_grid"
  run torch landscape "$py" "$here/torch_landscape.py" "$ls_grid"
fi

echo
echo "# ratios xgrad/torch (lower is better for xgrad; target = the lead's goal)"
"$py" - "$out" <<'EOF'
import os
import sys

out = sys.argv[1]


def results(side):
    rows = []
    for name in ("overhead", "deep", "fmnist_softmax", "fmnist_mlp", "fmnist_cnn",
                 "fmnist_cnn_nomkldnn", "landscape"):
        path = os.path.join(out, "%s.%s" % (side, name))
        if not os.path.exists(path):
            continue
        for line in open(path):
            if line.startswith("RESULT "):
                rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return rows


def index(rows):
    ix = {}
    for r in rows:
        if r["bench"] == "chain":
            key = ("chain", r["shape"], r["operands"])
        elif r["bench"] == "deep":
            key = ("deep", r["n"], r["mode"])
        elif r["bench"] == "fmnist":
            key = ("fmnist", r["model"], r["mkldnn"])
        else:
            key = (r["bench"],)
        ix[key] = r
    return ix


xg, th = index(results("xgrad")), index(results("torch"))


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError, TypeError):
        return None


lines = []


def row(label, key, field, target="", combine=None):
    a, b = xg.get(key), th.get(key)
    if a is None and b is None:  # not run (ONLY=...)
        return
    if a is None or b is None:
        x = t = None
    elif combine:
        x, t = combine(a), combine(b)
    else:
        x, t = num(a, field), num(b, field)
    ratio = "%.3f" % (x / t) if x is not None and t else "na"
    fmt = lambda v: "na" if v is None else "%.3f" % v
    lines.append((label, fmt(x), fmt(t), ratio, target))


for shape in ("1", "64x64"):
    for ops in ("scalar", "tensor"):
        k = ("chain", shape, ops)
        tgt = "<=0.200" if shape == "1" else ""
        row("chain %s %s fwd us/op" % (shape, ops), k, "fwd_us_per_op", tgt)
        row("chain %s %s bwd us/op" % (shape, ops), k, "bwd_us_per_op", tgt)
        row("chain %s %s free us/op" % (shape, ops), k, "free_us_per_op")
        row("chain %s %s nograd fwd us/op" % (shape, ops), k, "nograd_fwd_us_per_op")
row("mlp_step us/step", ("mlp_step",), "us_per_step")
row("mlp nograd fwd us", ("mlp_step",), "nograd_fwd_us")


def build_bwd(r):
    b, w = num(r, "build_s"), num(r, "backward_s")
    return None if b is None or w is None else b + w


for n in ("100000", "1000000"):
    big = n == "1000000"
    k = ("deep", n, "backward")
    row("deep %s build s" % n, k, "build_s")
    row("deep %s backward s" % n, k, "backward_s")
    row("deep %s build+backward s" % n, k, None, "<=0.250" if big else "", build_bwd)
    row("deep %s backward peak RSS MB" % n, k, "peak_rss_mb", "<=0.400" if big else "")
    k = ("deep", n, "nobackward")
    row("deep %s nobackward free s" % n, k, "free_s")
    row("deep %s nobackward peak RSS MB" % n, k, "peak_rss_mb", "<=0.400" if big else "")
    row("deep %s graph bytes/op" % n, k, "graph_bytes_per_op")


def fmnist_rows():
    for m in ("softmax", "mlp", "cnn"):
        a = xg.get(("fmnist", m, "0"))
        # PyTorch's best: the faster of its mkldnn and non-mkldnn runs
        runs = [r for r in (th.get(("fmnist", m, "0")), th.get(("fmnist", m, "1"))) if r]
        b = min(runs, key=lambda r: num(r, "epoch_s_median") or 1e30) if runs else None
        tgt = "<=0.670" if m == "cnn" else "<=0.500"
        if a is None and not runs:  # not run (ONLY=...)
            continue
        for label, field, target in (("s/epoch", "epoch_s_median", tgt),
                                     ("peak RSS MB", "peak_rss_mb", "<=0.500"),
                                     ("test acc", "test_acc_final", "")):
            x = num(a, field) if a else None
            t = num(b, field) if b else None
            ratio = "%.3f" % (x / t) if x is not None and t else "na"
            fmt = lambda v: "na" if v is None else "%.3f" % v
            name = "fmnist %s %s" % (m, label)
            if b is not None and label == "s/epoch" and len(runs) > 1:
                name += " (torch mkldnn=%s)" % b["mkldnn"]
            lines.append((name, fmt(x), fmt(t), ratio, target))


fmnist_rows()
row("landscape mlp s/point (10k images)", ("landscape",), "s_per_point", "<=0.500")

w = max(len(l[0]) for l in lines)
print("%-*s %12s %12s %8s %8s" % (w, "metric", "xgrad", "torch", "ratio", "target"))
for label, x, t, ratio, target in lines:
    print("%-*s %12s %12s %8s %8s" % (w, label, x, t, ratio, target))

crashed = [("xgrad", k) for k, r in xg.items() if r.get("crashed", "0") != "0"]
crashed += [("torch", k) for k, r in th.items() if r.get("crashed", "0") != "0"]
for side, k in crashed:
    print("# CRASH %s %s rc=%s" % (side, " ".join(k), (xg if side == "xgrad" else th)[k]["rc"]))
fr = [(s, float(r.get("foreign_frac", r.get("foreign_frac_max")))) for s, ix in
      (("xgrad", xg), ("torch", th)) for r in ix.values()
      if "foreign_frac" in r or "foreign_frac_max" in r]
if fr:
    worst = max(fr, key=lambda p: p[1])
    print("# max foreign_frac=%.3f (%s): other processes' CPU share during a measurement; "
          "above ~0.05 the run is noisy" % (worst[1], worst[0]))
EOF
