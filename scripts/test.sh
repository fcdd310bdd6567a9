#!/usr/bin/env bash
# The one check command: installs what the tests need (venv, LibreOffice, Gnumeric, Node.js and the npm readers),
# then ruff, then pytest.
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
# Without a CJK font LibreOffice draws Chinese as boxes: the zh workbooks it renders or converts need one.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  echo "Installing a Chinese font (fonts-wqy-zenhei) from Debian's packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fontconfig fonts-wqy-zenhei >/dev/null
fi
# The reader matrix (tests/test_reader_matrix.py) also reads every workbook with Gnumeric's ssconvert and, through
# Node, with SheetJS and ExcelJS (versions pinned in tests/readers/package-lock.json).
if ! command -v ssconvert >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing Gnumeric and Node.js (gnumeric, nodejs, npm) from Debian's packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gnumeric nodejs npm >/dev/null
fi
if [ ! -d tests/readers/node_modules ]; then
  echo "Installing the JavaScript readers (npm ci in tests/readers)" >&2
  (cd tests/readers && npm ci --no-audit --no-fund --loglevel=error)
fi
ruff check sheetplan tests scripts
python -m pytest -q "$@"
