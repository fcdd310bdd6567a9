#!/usr/bin/env bash
# Runs the whole demo cycle on a fresh demo workspace (default: workbooks/demo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
sheetplan demo "${1:-workbooks/demo}"
