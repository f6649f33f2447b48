-- ltlsp for Neovim (0.7 and newer): semantic code search through the `ltlsp lsp` server.
--
-- One language server per git work tree, attached to every file buffer inside it.
-- :LtlspSimilar and :LtlspSearch fill the quickfix list; progress and the server's messages
-- go through vim.notify. See :help ltlsp.

local M = {}

local REQUEST_FAILED = -32803 -- the server has already told the user why (window/showMessage)
local REINDEX_COMMAND = "ltlsp.server.reindex"

local config = {
  cmd = { "ltlsp", "lsp" },
  top_k = 10,
}

-- Work tree root -> index state from the server's `$/ltlsp/indexState`: "indexing", "ready", "error".
M.index_state = {}

local levels = vim.log.levels
local message_levels = { levels.ERROR, levels.WARN, levels.INFO, levels.DEBUG }

local function notify(message, level)
  vim.notify(message, level or levels.INFO, { title = "ltlsp" })
end

-- `client.request` on 0.7, `client:request` where the dot form is deprecated.
local function request(client, method, params, handler, bufnr)
  if vim.fn.has("nvim-0.11") == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function git_root(path)
  local dir = vim.fn.fnamemodify(path, ":p")
  if vim.fn.isdirectory(dir) == 0 then
    dir = vim.fn.fnamemodify(dir, ":h")
  end
  while true do
    if vim.loop.fs_stat(dir .. "/.git") then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      return nil
    end
    dir = parent
  end
end

local handlers = {
  ["window/showMessage"] = function(_, result)
    notify(result.message, message_levels[result.type])
  end,
  -- Begin and end of each indexing job; the percentages stay in the client's progress table.
  ["$/progress"] = function(err, result, ctx, cfg)
    vim.lsp.handlers["$/progress"](err, result, ctx, cfg)
    local value = result.value or {}
    if value.kind == "begin" then
      notify(value.title .. "…")
    elseif value.kind == "end" then
      notify("ltlsp: indexed: " .. (value.message or "done"))
    end
  end,
  ["$/ltlsp/indexState"] = function(_, result)
    M.index_state[vim.uri_to_fname(result.uri)] = result.state
  end,
}

local function client_config(root)
  return {
    name = "ltlsp",
    cmd = config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = { topK = config.top_k },
    settings = { ltlsp = { topK = config.top_k } },
    handlers = handlers,
  }
end

local clients = {} -- root -> client id (Neovim 0.7, which has no vim.lsp.start)

-- Start (or reuse) the server of the buffer's work tree and attach it; nil for buffers that are
-- not files in a git repository.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local name = vim.api.nvim_buf_get_name(bufnr)
  if vim.bo[bufnr].buftype ~= "" or name == "" then
    return nil
  end
  local root = git_root(name)
  if not root then
    return nil
  end
  if vim.lsp.start then
    return vim.lsp.start(client_config(root), { bufnr = bufnr })
  end
  local id = clients[root]
  if not (id and vim.lsp.get_client_by_id(id)) then
    id = vim.lsp.start_client(client_config(root))
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- The ltlsp client of the current buffer, or nil after telling the user why there is none.
local function current_client()
  local bufnr = vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then
    notify("ltlsp: this buffer is not saved to a file; save it in a git repository first", levels.WARN)
    return nil
  end
  local id = M.attach(bufnr)
  if not id then
    notify("ltlsp: " .. name .. " is not inside a git repository; ltlsp searches git work trees", levels.WARN)
    return nil
  end
  return vim.lsp.get_client_by_id(id), bufnr
end

local function to_quickfix(title, results)
  local items = {}
  for _, r in ipairs(results) do
    table.insert(items, {
      filename = vim.uri_to_fname(r.uri),
      lnum = r.startLine,
      end_lnum = r.endLine,
      col = 1,
      text = string.format("%.3f  %s", r.score, r.symbol),
    })
  end
  vim.fn.setqflist({}, " ", { title = title, items = items })
  if #items == 0 then
    notify(title .. ": no results")
    return
  end
  vim.cmd("botright copen")
end

local function on_results(title)
  return function(err, result)
    if err then
      if err.code ~= REQUEST_FAILED then
        notify(err.message, levels.ERROR)
      end
      return
    end
    to_quickfix(title, result or {})
  end
end

-- :[range]LtlspSimilar: code like the selected lines, or like the unit around the cursor.
function M.similar(opts)
  local client, bufnr = current_client()
  if not client then
    return
  end
  local params = { textDocument = vim.lsp.util.make_text_document_params(bufnr), topK = config.top_k }
  local where
  if opts and opts.range and opts.range > 0 then
    -- Whole lines: the range ends at the start of the line after the last one.
    params.range = { start = { line = opts.line1 - 1, character = 0 }, ["end"] = { line = opts.line2, character = 0 } }
    where = string.format("%d-%d", opts.line1, opts.line2)
  else
    local cursor = vim.api.nvim_win_get_cursor(0)
    params.position = { line = cursor[1] - 1, character = cursor[2] }
    where = tostring(cursor[1])
  end
  local title = "ltlsp similar: " .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":.") .. ":" .. where
  request(client, "ltlsp/similar", params, on_results(title), bufnr)
end

-- :LtlspSearch {query}: code that does what the query says.
function M.search(query)
  if not query or vim.trim(query) == "" then
    notify("ltlsp: give a query, e.g. :LtlspSearch parse a header line", levels.WARN)
    return
  end
  local client, bufnr = current_client()
  if not client then
    return
  end
  local params = { query = query, topK = config.top_k, textDocument = vim.lsp.util.make_text_document_params(bufnr) }
  request(client, "ltlsp/search", params, on_results("ltlsp search: " .. query), bufnr)
end

-- :LtlspReindex: bring the index of the current work tree up to date.
function M.reindex()
  local client, bufnr = current_client()
  if not client then
    return
  end
  request(client, "workspace/executeCommand", { command = REINDEX_COMMAND, arguments = {} }, function(err)
    if err and err.code ~= REQUEST_FAILED then
      notify(err.message, levels.ERROR)
    end
  end, bufnr)
end

function M.setup(opts)
  config = vim.tbl_deep_extend("force", config, opts or {})
  local group = vim.api.nvim_create_augroup("ltlsp", { clear = true })
  -- Not FileType: every file of the work tree is searchable, with or without `filetype on`.
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do -- buffers opened before setup (lazy loading)
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M.attach(bufnr)
    end
  end
  vim.api.nvim_create_user_command("LtlspSimilar", M.similar,
    { range = true, desc = "ltlsp: code similar to the selected lines, or to the code at the cursor" })
  vim.api.nvim_create_user_command("LtlspSearch", function(args)
    M.search(args.args)
  end, { nargs = "+", desc = "ltlsp: semantic code search into the quickfix list" })
  vim.api.nvim_create_user_command("LtlspReindex", M.reindex, { desc = "ltlsp: bring the index up to date" })
end

return M
