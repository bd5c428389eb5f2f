#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a trained policy: installs
# what is missing, builds, and trains the default run (configs/basic/run.yaml).
# Extra arguments go to `tandem run` (e.g. --steps 100 --output runs/mine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec ./build/app/tandem run configs/basic/run.yaml "$@"
