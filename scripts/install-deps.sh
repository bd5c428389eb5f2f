#!/usr/bin/env bash
# Installs every Debian 12 package tandem needs to build, run and test on CPU.
# Idempotent: packages already present are skipped by apt; safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libcaf-dev                      # actors (CAF 0.17 core + io)
  libzmq3-dev cppzmq-dev          # data plane
  libsodium-dev                   # CURVE key derivation and keyed MACs (also pulled in by libzmq3-dev)
  libmsgpack-cxx-dev              # data-plane encoding
  libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev                 # run config files (YAML with line/column marks)
  libsqlite3-dev                  # the run journal (RUN_DIR/journal.db, `tandem audit`)
  libtorch-dev                    # LibTorch 1.13 (CPU)
  libopenblas0-pthread            # without it Debian's LibTorch uses reference BLAS (~25x slower matmul)
  libgtest-dev libgmock-dev
  python3
  iproute2                        # ip netns: the two-node test runs in network namespaces
  libcpp-httplib-dev              # the monitoring console's web server
  libjs-chart.js                  # the console page's charts (embedded in the binary)
  chromium chromium-driver        # tests: the console page in a headless browser
  prometheus                      # tests: promtool check metrics on /metrics
  tmux                            # tests: tandem top in a terminal
  clang libfuzzer-14-dev          # the fuzz targets (scripts/fuzz.sh, run by scripts/test.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
