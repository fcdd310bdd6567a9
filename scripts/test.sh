#!/usr/bin/env bash
# The one check command: installs what the tests need (venv, LibreOffice), then ruff, then pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
# The real-client tests drive LibreOffice through UNO with the system python3 (Debian's python3-uno).
if ! command -v soffice >/dev/null 2>&1 || ! /usr/bin/python3 -c "import uno" >/dev/null 2>&1; then
  echo "Installing LibreOffice (libreoffice-calc-nogui, python3-uno) from Debian's packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libreoffice-calc-nogui python3-uno >/dev/null
fi
ruff check sheetplan tests scripts
python -m pytest -q "$@"
