#!/usr/bin/env bash
# Render what each reader receives to PNG, as LibreOffice prints it, in English and in Chinese:
# the person and month templates, an approval workbook, a feedback copy, an ingest report, the summary's
# first pages and the annual summary. With --docs it also refreshes the README's pictures in docs/.
#
#   scripts/pictures.sh [--docs] [OUT]        # runs `sheetplan demo` per language (~1-2 min each)
#   SHEETPLAN_DEMO_EN=dir SHEETPLAN_DEMO_ZH=dir scripts/pictures.sh OUT   # reuse finished demo folders
#
# OUT (default: pictures/, not committed) gets <lang>-<what>-<page>.png and pages.txt (pages per file).
# Needs LibreOffice (soffice), pdftoppm (poppler-utils) and a CJK font (fonts-wqy-zenhei or fonts-noto-cjk),
# without which LibreOffice draws Chinese as boxes.
set -euo pipefail
cd "$(dirname "$0")/.."

docs=0
if [ "${1:-}" = "--docs" ]; then docs=1; shift; fi
out=${1:-pictures}
for tool in soffice pdftoppm; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install libreoffice-calc-nogui poppler-utils)" >&2; exit 2; }
done
if ! fc-list :lang=zh family | grep -q .; then
    echo "no CJK font: Chinese would render as boxes (apt-get install fonts-wqy-zenhei)" >&2; exit 2
fi
sheetplan=${SHEETPLAN:-.venv/bin/sheetplan}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
: > "$out/pages.txt"

# render NAME FILE PAGE...: those pages of FILE as printed (L: the last page) to OUT/NAME-<page>.png
render() {
    local name=$1 file=$2
    shift 2
    rm -rf "$work/pdf"
    soffice "-env:UserInstallation=file://$work/profile" --headless --norestore --convert-to pdf \
        --outdir "$work/pdf" "$file" >/dev/null 2>&1
    local pdf pages page
    pdf=$(ls "$work"/pdf/*.pdf)
    pages=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
    rm -f "$out/$name"-*.png
    for page in "$@"; do
        [ "$page" = L ] && page=$pages
        [ "$page" -le "$pages" ] || continue
        pdftoppm -png -r 60 -f "$page" -l "$page" -singlefile "$pdf" "$out/$name-$page"
    done
    echo "$name: $pages page(s) from $file" | tee -a "$out/pages.txt"
}

for lang in ${SHEETPLAN_PICTURE_LANGS:-en zh}; do
    var="SHEETPLAN_DEMO_${lang^^}"
    demo=${!var:-}
    if [ -z "$demo" ]; then
        demo="$work/demo-$lang"
        "$sheetplan" demo "$demo" --lang "$lang" >/dev/null
    fi
    first() { find "$demo/$1" -name "$2" | sort | head -n 1; }
    render "$lang-person" "$(first outbox/person '*.xlsx')" 1 2
    render "$lang-month" "$(first outbox/month '*.xlsx')" 2
    [ "$lang" = en ] && cp "$(ls "$work"/pdf/*.pdf)" "$work/month.pdf"
    render "$lang-approval" "$(first outbox/approval '*.xlsx')" 2 3
    render "$lang-feedback" "$(first outbox/feedback 'person-*.xlsx')" 1 L
    render "$lang-ingest" "$(first reports 'ingest-month-*.xlsx')" 1 2
    render "$lang-summary" "$(ls "$demo"/reports/summary-*.xlsx | tail -n 1)" 1 2 3 4
    render "$lang-team" "$(find "$demo"/reports/*/ -name '*.xlsx' | sort | head -n 1)" 1 2
    render "$lang-annual" "$(first reports 'annual-*.xlsx')" 1
done

if [ "$docs" = 1 ]; then  # the README's pictures: the Dashboard, and the top of a month template, legible
    cp "$out/en-summary-1.png" docs/dashboard.png
    pdftoppm -png -r 110 -f 2 -l 2 -x 0 -y 0 -W 1290 -H 330 -singlefile "$work/month.pdf" docs/template
    echo "docs/dashboard.png ($(du -k docs/dashboard.png | cut -f1) KB), docs/template.png ($(du -k docs/template.png | cut -f1) KB)"
fi
