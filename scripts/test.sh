#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a passing test suite:
# installs what is missing, builds, runs every test (unit, actor protocol,
# end-to-end learning, two-process run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j 1 "$@"
