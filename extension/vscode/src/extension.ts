// ltlsp for VS Code: a thin client of the `ltlsp lsp` language server.
//
// The server does the work; this file turns its answers into VS Code's own views: the
// references peek for similar code, a quick pick for semantic search, a status bar item for
// the index. The decisions live in logic.ts, where node's test runner can check them.

import * as os from "os";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from "vscode-languageclient/node";
import { CodeSymbol, errorMessage, expandHome, IndexState, pickItem, Result, similarTarget, statusOf } from "./logic";

const REINDEX_COMMAND = "ltlsp.server.reindex"; // the server's; VS Code's own ids stay free

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let status: vscode.StatusBarItem;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("ltlsp");
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 0);
  status.command = "ltlsp.showOutput";
  showStatus(undefined);
  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand("ltlsp.findSimilar", findSimilar),
    vscode.commands.registerCommand("ltlsp.semanticSearch", semanticSearch),
    vscode.commands.registerCommand("ltlsp.reindex", reindex),
    vscode.commands.registerCommand("ltlsp.showOutput", () => output.show()),
    vscode.workspace.onDidChangeConfiguration(async (change) => {
      if (change.affectsConfiguration("ltlsp.path")) {
        await client?.stop();
        await startClient();
      }
    }),
  );
  await startClient();
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}

function settings(): { path: string; topK: number } {
  const config = vscode.workspace.getConfiguration("ltlsp");
  return { path: expandHome(config.get("path", "ltlsp"), os.homedir()), topK: config.get("topK", 10) };
}

async function startClient(): Promise<void> {
  const { path, topK } = settings();
  const serverOptions: ServerOptions = { command: path, args: ["lsp"] };
  const clientOptions: LanguageClientOptions = {
    // untitled: so that the server can say "save it first" instead of nothing happening
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: { topK },
    synchronize: { configurationSection: "ltlsp" },
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
  };
  client = new LanguageClient("ltlsp", "ltlsp", serverOptions, clientOptions);
  client.onNotification("$/ltlsp/indexState", (state: IndexState) => showStatus(state));
  try {
    await client.start();
  } catch (err) {
    showStatus({ uri: "", state: "error", chunks: 0, message: "the language server did not start" });
    const choice = await vscode.window.showErrorMessage(
      `ltlsp: could not run \`${path} lsp\` (${errorMessage(err)}). Install ltlsp (pip install ltlsp) ` +
        "or set ltlsp.path to the ltlsp program.",
      "Open Settings",
    );
    if (choice) {
      vscode.commands.executeCommand("workbench.action.openSettings", "ltlsp.path");
    }
  }
}

function showStatus(state: IndexState | undefined): void {
  const { text, tooltip } = statusOf(state);
  status.text = text;
  status.tooltip = tooltip;
  status.show();
}

/** A request to the server; undefined after a failure, which has been shown to the user. */
async function request<T>(method: string, params: object): Promise<T | undefined> {
  if (!client?.isRunning()) {
    vscode.window.showErrorMessage("ltlsp: the language server is not running; see “ltlsp: Show Output”.");
    return undefined;
  }
  try {
    return await client.sendRequest<T>(method, params);
  } catch (err) {
    const message = errorMessage(err);
    if (message) {
      vscode.window.showErrorMessage(message);
    }
    return undefined;
  }
}

async function findSimilar(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    vscode.window.showInformationMessage("ltlsp: open a file and select some code (or put the cursor in a function).");
    return;
  }
  const { document, selection } = editor;
  const symbols = selection.isEmpty ? await documentSymbols(document.uri) : [];
  const target = similarTarget(selection, symbols, selection.active);
  const results = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: "ltlsp: finding similar code" },
    () => request<Result[]>("ltlsp/similar", { textDocument: { uri: document.uri.toString() }, ...target, topK: settings().topK }),
  );
  if (!results) {
    return;
  }
  if (results.length === 0) {
    vscode.window.showInformationMessage("ltlsp: no similar code found.");
    return;
  }
  const locations = results.map((r) => client!.protocol2CodeConverter.asLocation({ uri: r.uri, range: r.range }));
  await vscode.commands.executeCommand("editor.action.showReferences", document.uri, selection.active, locations);
}

async function documentSymbols(uri: vscode.Uri): Promise<CodeSymbol[]> {
  const found = await vscode.commands.executeCommand<(vscode.DocumentSymbol | vscode.SymbolInformation)[]>(
    "vscode.executeDocumentSymbolProvider",
    uri,
  );
  // SymbolInformation (flat, no children) says too little about nesting: use the server's unit.
  return (found ?? []).filter((s): s is vscode.DocumentSymbol => "children" in s);
}

async function semanticSearch(): Promise<void> {
  const query = await vscode.window.showInputBox({
    title: "ltlsp: Semantic Search",
    prompt: "Describe the code you are looking for",
    placeHolder: "e.g. retry a request with exponential backoff",
    validateInput: (text) => (text.trim() ? undefined : "Type a few words."),
  });
  if (!query) {
    return;
  }
  const results = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: "ltlsp: searching" },
    () => request<Result[]>("ltlsp/search", { query, topK: settings().topK }),
  );
  if (!results) {
    return;
  }
  if (results.length === 0) {
    vscode.window.showInformationMessage(`ltlsp: nothing found for “${query}”.`);
    return;
  }
  const picked = await vscode.window.showQuickPick(
    results.map((result) => ({ ...pickItem(result), result })),
    { title: `ltlsp: ${query}`, matchOnDescription: true, matchOnDetail: true },
  );
  if (picked) {
    const start = new vscode.Position(picked.result.startLine - 1, 0);
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(picked.result.uri));
    await vscode.window.showTextDocument(document, { selection: new vscode.Range(start, start) });
  }
}

async function reindex(): Promise<void> {
  const summaries = await request<{ repo: string; chunks: number; seconds: number }[]>(
    ExecuteCommandRequest.type.method,
    { command: REINDEX_COMMAND, arguments: [] },
  );
  for (const s of summaries ?? []) {
    vscode.window.showInformationMessage(`ltlsp: ${s.repo} is up to date: ${s.chunks} chunks (${s.seconds.toFixed(1)} s).`);
  }
}
