import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CodeSymbol,
  enclosingUnit,
  errorMessage,
  expandHome,
  pickItem,
  REQUEST_FAILED,
  similarTarget,
  statusOf,
} from "../logic";

const span = (l1: number, c1: number, l2: number, c2: number) => ({
  start: { line: l1, character: c1 },
  end: { line: l2, character: c2 },
});
const CLASS = 4;
const METHOD = 5;
const FUNCTION = 11;
const VARIABLE = 12;

// class Cache (lines 0-20) with a method get (5-10); a function helper (22-30); a variable (31).
const symbols: CodeSymbol[] = [
  { kind: CLASS, range: span(0, 0, 20, 0), children: [{ kind: METHOD, range: span(5, 4, 10, 0), children: [] }] },
  { kind: FUNCTION, range: span(22, 0, 30, 0), children: [] },
  { kind: VARIABLE, range: span(31, 0, 31, 10), children: [] },
];

test("a selection is compared as it is", () => {
  const selection = span(3, 2, 8, 0);
  assert.deepEqual(similarTarget(selection, symbols, selection.end), { range: selection });
});

test("no selection: the innermost function around the cursor", () => {
  const cursor = { line: 7, character: 3 };
  assert.deepEqual(similarTarget(span(7, 3, 7, 3), symbols, cursor), { range: span(5, 4, 10, 0) });
  assert.deepEqual(enclosingUnit(symbols, { line: 25, character: 0 })?.range, span(22, 0, 30, 0));
});

test("no selection in a class but outside its methods: the class", () => {
  assert.equal(enclosingUnit(symbols, { line: 2, character: 0 })?.kind, CLASS);
});

test("no selection and no unit around the cursor: the server picks the unit at the position", () => {
  const cursor = { line: 31, character: 2 };
  assert.deepEqual(similarTarget(span(31, 2, 31, 2), symbols, cursor), { position: cursor });
  assert.deepEqual(similarTarget(span(40, 0, 40, 0), [], { line: 40, character: 0 }), {
    position: { line: 40, character: 0 },
  });
});

test("a quick pick row shows symbol, place, score and the body", () => {
  const item = pickItem({
    uri: "file:///r/net/headers.py",
    range: span(3, 0, 9, 0),
    path: "net/headers.py",
    startLine: 4,
    endLine: 9,
    score: 0.61234,
    symbol: "def parse_header_line(line):",
    kind: "function",
    preview: 'def parse_header_line(line):\n    """Split one line."""\n\n    name, sep, value = line.partition(":")',
  });
  assert.equal(item.label, "def parse_header_line(line):");
  assert.equal(item.description, "net/headers.py:4-9");
  assert.equal(item.detail, '0.612  """Split one line."""  ⏎ name, sep, value = line.partition(":")');
});

test("failures the server already announced are not shown twice", () => {
  assert.equal(errorMessage({ code: REQUEST_FAILED, message: "ltlsp: the daemon stopped" }), undefined);
  assert.equal(errorMessage({ code: -32602, message: "ltlsp: the selection is empty" }), "ltlsp: the selection is empty");
  assert.equal(errorMessage(new Error("boom")), "boom");
});

test("the status bar follows the index", () => {
  assert.match(statusOf({ uri: "", state: "indexing", chunks: 0, message: "" }).text, /sync~spin/);
  assert.equal(statusOf({ uri: "", state: "ready", chunks: 1234, message: "" }).tooltip, "ltlsp: 1234 chunks indexed");
  assert.match(statusOf({ uri: "", state: "error", chunks: 0, message: "daemon stopped" }).tooltip, /daemon stopped/);
  assert.match(statusOf(undefined).tooltip, /starting/);
});

test("a path setting with ~ is expanded", () => {
  assert.equal(expandHome("~/venv/bin/ltlsp", "/home/me"), "/home/me/venv/bin/ltlsp");
  assert.equal(expandHome("/usr/bin/ltlsp", "/home/me"), "/usr/bin/ltlsp");
  assert.equal(expandHome("ltlsp", "/home/me"), "ltlsp");
});
