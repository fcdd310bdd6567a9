#!/usr/bin/env bash
# What a user installs: build the wheel and the sdist, install each into a fresh virtual environment outside
# the checkout, and run the demo year and a hand-made workspace's generate commands from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"  # nowhere near the checkout: nothing may be found through it

"$PY" -m venv "$WORK/build-env"
"$WORK/build-env/bin/python" -m pip install --quiet --disable-pip-version-check build
"$WORK/build-env/bin/python" -m build --quiet --outdir "$WORK/dist" "$ROOT" >/dev/null
wheel=$(ls "$WORK"/dist/sheetplan-*.whl)
sdist=$(ls "$WORK"/dist/sheetplan-*.tar.gz)

check() {  # check NAME PACKAGE: install PACKAGE into a new venv and run the commands a new user runs
  local name=$1 package=$2 env="$WORK/$1"
  "$PY" -m venv "$env"
  "$env/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
  mkdir "$WORK/run-$name" && cd "$WORK/run-$name"
  echo "== $name: $(basename "$package")"
  "$env/bin/sheetplan" init ws --demo --year 2027
  for kind in company team person; do "$env/bin/sheetplan" -w ws generate "$kind" | tail -n 1; done
  "$env/bin/sheetplan" -w ws generate month --month 2027-01 | tail -n 1
  if [ "$name" = wheel ]; then
    "$env/bin/sheetplan" demo "$WORK/run-$name/demo-en" > demo-en.log || { tail -n 30 demo-en.log; exit 1; }
    tail -n 2 demo-en.log
    "$env/bin/sheetplan" demo "$WORK/run-$name/demo-zh" --lang zh --through 2027-02 > demo-zh.log \
      || { tail -n 30 demo-zh.log; exit 1; }
    tail -n 1 demo-zh.log
  fi
  cd "$WORK"
}
check wheel "$wheel"
check sdist "$sdist"
echo "wheel and sdist: installed outside the checkout, init, generate and demo ran"
