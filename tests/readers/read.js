// Read workbooks with SheetJS (npm xlsx) and ExcelJS, as other teams' scripts and web previewers do.
//
//   node tests/readers/read.js < files.json > values.json
//
// Input: a JSON list of .xlsx paths. Output: one JSON object {path: {sheetjs: READ, exceljs: READ}} where
// READ is {error: null or the message, warnings: [what the library printed], sheets: [{name, cells:
// [[row, col, value], ...]}]} with zero-based rows and columns, and a formula cell's cached value (SheetJS)
// or result (ExcelJS). One process reads every file: Node starts once for the whole matrix.
"use strict";

const fs = require("fs");
const XLSX = require("xlsx");
const ExcelJS = require("exceljs");

function capture(run) {
  const said = [];
  const saved = {log: console.log, warn: console.warn, error: console.error, info: console.info};
  for (const key of Object.keys(saved)) {
    console[key] = (...args) => said.push(args.map(String).join(" "));
  }
  const restore = () => Object.assign(console, saved);
  return Promise.resolve()
    .then(run)
    .then(
      (sheets) => { restore(); return {error: null, warnings: said, sheets}; },
      (err) => { restore(); return {error: String(err && err.stack ? err.stack : err), warnings: said, sheets: []}; },
    );
}

function plain(value) {
  if (value instanceof Date) return value.toISOString();
  if (value === undefined) return null;
  return value;
}

function sheetjs(path) {
  // WTF: throw on anything the parser does not understand, instead of skipping it quietly
  const book = XLSX.read(fs.readFileSync(path), {type: "buffer", WTF: true, cellDates: false});
  return book.SheetNames.map((name) => {
    const sheet = book.Sheets[name];
    const cells = [];
    for (const ref of Object.keys(sheet)) {
      if (ref[0] === "!") continue;
      const cell = sheet[ref];
      if (cell.t === "z" || cell.v === undefined) continue;
      const at = XLSX.utils.decode_cell(ref);
      cells.push([at.r, at.c, cell.t === "e" ? "#" + (cell.w || "ERROR") : plain(cell.v)]);
    }
    return {name, cells};
  });
}

function exceljsValue(value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object" || value instanceof Date) return plain(value);
  if ("formula" in value || "sharedFormula" in value) return exceljsValue(value.result);
  if ("richText" in value) return value.richText.map((run) => run.text).join("");
  if ("hyperlink" in value) return exceljsValue(value.text);
  if ("error" in value) return "#" + value.error;
  return JSON.stringify(value);
}

async function exceljs(path) {
  const book = new ExcelJS.Workbook();
  await book.xlsx.readFile(path);
  return book.worksheets.map((sheet) => {
    const cells = [];
    sheet.eachRow({includeEmpty: false}, (row, rowNumber) => {
      row.eachCell({includeEmpty: false}, (cell, colNumber) => {
        if (cell.isMerged && cell.master.address !== cell.address) return; // ExcelJS repeats the master's value
        const value = exceljsValue(cell.value);
        if (value !== null && value !== "") cells.push([rowNumber - 1, colNumber - 1, value]);
      });
    });
    return {name: sheet.name, cells};
  });
}

async function main() {
  const files = JSON.parse(fs.readFileSync(0, "utf8"));
  const out = {};
  for (const path of files) {
    out[path] = {sheetjs: await capture(() => sheetjs(path)), exceljs: await capture(() => exceljs(path))};
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
