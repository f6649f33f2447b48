// The extension's decisions, kept free of the `vscode` module so that node's test runner can
// check them without a VS Code instance (which cannot be downloaded in CI).

export interface Position {
  line: number;
  character: number;
}

export interface Span {
  start: Position;
  end: Position;
}

/** A document symbol as VS Code reports it: `kind` is a vscode.SymbolKind value. */
export interface CodeSymbol {
  kind: number;
  range: Span;
  children: CodeSymbol[];
}

/** One result of the server's `ltlsp/search` and `ltlsp/similar`. */
export interface Result {
  uri: string;
  range: Span;
  path: string;
  startLine: number;
  endLine: number;
  score: number;
  symbol: string;
  kind: string;
  preview: string;
}

/** What `ltlsp/similar` compares: the selection, else the function around the cursor. */
export type SimilarTarget = { range: Span } | { position: Position };

export interface IndexState {
  uri: string;
  state: "indexing" | "ready" | "error";
  chunks: number;
  message: string;
}

/** LSP RequestFailed: the server has already told the user why (window/showMessage). */
export const REQUEST_FAILED = -32803;

// vscode.SymbolKind values of the units worth comparing.
const CLASS = 4;
const METHOD = 5;
const CONSTRUCTOR = 8;
const FUNCTION = 11;
const FUNCTION_KINDS = new Set([METHOD, CONSTRUCTOR, FUNCTION]);

function before(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character <= b.character);
}

function contains(span: Span, at: Position): boolean {
  return before(span.start, at) && before(at, span.end);
}

export function isEmpty(span: Span): boolean {
  return span.start.line === span.end.line && span.start.character === span.end.character;
}

/** The innermost function (else class) whose range holds `at`. */
export function enclosingUnit(symbols: CodeSymbol[], at: Position): CodeSymbol | undefined {
  let found: CodeSymbol | undefined;
  for (const symbol of symbols) {
    if (!contains(symbol.range, at)) {
      continue;
    }
    const inner = enclosingUnit(symbol.children, at);
    if (inner && FUNCTION_KINDS.has(inner.kind)) {
      return inner;
    }
    if (FUNCTION_KINDS.has(symbol.kind)) {
      return symbol;
    }
    found = inner ?? (symbol.kind === CLASS ? symbol : found);
  }
  return found;
}

export function similarTarget(selection: Span, symbols: CodeSymbol[], cursor: Position): SimilarTarget {
  if (!isEmpty(selection)) {
    return { range: selection };
  }
  const unit = enclosingUnit(symbols, cursor);
  // Without a symbol provider for the language the server takes the unit around the line.
  return unit ? { range: unit.range } : { position: cursor };
}

/** The quick pick row of a result: symbol, where, score and the lines after the first. */
export function pickItem(result: Result): { label: string; description: string; detail: string } {
  const body = result.preview
    .split("\n")
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .slice(0, 3)
    .join("  ⏎ ");
  return {
    label: result.symbol,
    description: `${result.path}:${result.startLine}-${result.endLine}`,
    detail: `${result.score.toFixed(3)}  ${body}`,
  };
}

/** The message to show for a failed request, or undefined when the server already showed one. */
export function errorMessage(error: unknown): string | undefined {
  const failure = error as { code?: number; message?: string };
  if (failure?.code === REQUEST_FAILED) {
    return undefined;
  }
  return failure?.message || String(error);
}

/** The status bar item's text and tooltip for the index state of the workspace. */
export function statusOf(state: IndexState | undefined): { text: string; tooltip: string } {
  switch (state?.state) {
    case "indexing":
      return { text: "$(sync~spin) ltlsp", tooltip: "ltlsp: indexing the workspace" };
    case "ready":
      return { text: "$(search) ltlsp", tooltip: `ltlsp: ${state.chunks} chunks indexed` };
    case "error":
      return { text: "$(warning) ltlsp", tooltip: `ltlsp: ${state.message}` };
    default:
      return { text: "$(search) ltlsp", tooltip: "ltlsp: starting" };
  }
}

/** `~/bin/ltlsp` -> `/home/me/bin/ltlsp`, as a shell would. */
export function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? home + path.slice(1) : path;
}
