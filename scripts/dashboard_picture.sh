#!/usr/bin/env bash
# Regenerate docs/dashboard.png: the Dashboard sheet of a summary workbook as LibreOffice renders it.
#
#   scripts/dashboard_picture.sh                    # runs `sheetplan demo` in a temporary folder (~30-60 s)
#   scripts/dashboard_picture.sh reports/summary-2027-03.xlsx
#
# Needs LibreOffice (soffice) and pdftoppm (apt-get install poppler-utils).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in soffice pdftoppm; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install libreoffice-calc-nogui poppler-utils)" >&2; exit 2; }
done

# Without a CJK font LibreOffice draws the Chinese of a zh workbook as boxes: install one when none is there.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    echo "Installing a Chinese font (fonts-wqy-zenhei) from Debian's packages" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fontconfig fonts-wqy-zenhei >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

summary=${1:-}
if [ -z "$summary" ]; then
    .venv/bin/sheetplan demo "$work/demo" >/dev/null
    summary=$(ls "$work"/demo/reports/summary-*.xlsx | head -n 1)
fi

# SinglePageSheets puts each sheet on one page, so page 1 is the whole Dashboard (the first sheet),
# charts included. A profile of our own keeps this soffice apart from any other running one.
soffice "-env:UserInstallation=file://$work/profile" --headless --norestore \
    --convert-to 'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}' \
    --outdir "$work" "$summary" >/dev/null
pdf="$work/$(basename "${summary%.*}").pdf"
mkdir -p docs
pdftoppm -png -r 80 -f 1 -l 1 -singlefile "$pdf" docs/dashboard
echo "docs/dashboard.png ($(du -k docs/dashboard.png | cut -f1) KB) from $summary"
