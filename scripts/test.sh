#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a passing test suite:
# installs what is missing, builds, runs every test (unit, actor protocol,
# end-to-end learning, two-process run), then a short, repeatable run of every
# fuzz target (fixed seed, 3,000 inputs each past the seed corpus;
# docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j 1 "$@")
FUZZ_BUILD_JOBS="${FUZZ_BUILD_JOBS:-2}" bash scripts/fuzz.sh --seed 1 --runs 3000 --seconds 120
