#!/usr/bin/env bash
# Configures and builds tandem in ./build (Release with light debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
# Two jobs: a LibTorch translation unit needs ~1 GB and ~15 s; CI has 2 cores.
cmake --build build -j "${TANDEM_JOBS:-2}"
