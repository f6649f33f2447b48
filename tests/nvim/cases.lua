-- Headless Neovim tests of the ltlsp plugin against the real `ltlsp lsp` and daemon.
-- Run by tests/test_nvim.py as `nvim --headless -u NONE -i NONE -c "luafile cases.lua"`, with
-- the case to run and the paths in the environment. An uncaught Lua error in a `luafile` does
-- not change nvim's exit status, so every case runs under pcall, a failure ends with
-- `cquit 1`, and success writes "ok" to $LTLSP_NVIM_RESULT (the test checks both).

local env = vim.env
local repo = env.LTLSP_NVIM_REPO
local WAIT_MS = 90000

local notes = {}
vim.notify = function(message, level)
  table.insert(notes, { message = message, level = level })
end

local function noted(pattern, level)
  for _, note in ipairs(notes) do
    if note.message:find(pattern, 1, true) and (level == nil or note.level == level) then
      return note
    end
  end
end

local function wait(what, condition)
  if not vim.wait(WAIT_MS, condition, 50) then
    local seen = {}
    for _, note in ipairs(notes) do
      table.insert(seen, note.message)
    end
    error("timed out waiting for " .. what .. "; messages: " .. vim.inspect(seen), 2)
  end
end

local function edit(rel)
  vim.cmd("edit " .. vim.fn.fnameescape(repo .. "/" .. rel))
end

local function ready()
  wait("the ltlsp server to attach", function()
    return #vim.lsp.buf_get_clients(0) > 0
  end)
  wait("the index to be ready", function()
    return require("ltlsp").index_state[repo] == "ready"
  end)
end

-- Run an Ex command and wait for the quickfix list it fills.
local function quickfix_of(command)
  vim.fn.setqflist({}, "r", { title = "", items = {} })
  vim.cmd(command)
  wait("the quickfix list of " .. command, function()
    return vim.fn.getqflist({ title = 0 }).title:find("^ltlsp") ~= nil
  end)
  local items = vim.fn.getqflist()
  for _, item in ipairs(items) do
    item.path = vim.fn.fnamemodify(vim.fn.bufname(item.bufnr), ":p"):sub(#repo + 2)
  end
  return items
end

local function show(items)
  local rows = {}
  for _, item in ipairs(items) do
    table.insert(rows, string.format("%s:%d-%d %s", item.path, item.lnum, item.end_lnum, item.text))
  end
  return table.concat(rows, "\n")
end

local cases = {}

function cases.similar()
  edit("math/stats.py")
  ready()
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  local items = quickfix_of("LtlspSimilar")
  assert(#items > 0 and items[1].path == "math/summary.py", "similar at the cursor:\n" .. show(items))
  for _, item in ipairs(items) do
    assert(item.path ~= "math/stats.py", "the query itself came back:\n" .. show(items))
  end
  local title = vim.fn.getqflist({ title = 0 }).title
  assert(title:find("^ltlsp similar: .*math/stats.py:3$"), title)
  assert(vim.bo.buftype == "quickfix", "the quickfix window is open")

  -- A visual range of lines, edited in the buffer and not saved: the buffer is what counts.
  vim.cmd("wincmd p")
  edit("store/cache.py")
  vim.api.nvim_buf_set_lines(0, 0, -1, false, {
    "def mean_of_samples(samples):",
    '    """The mean and the variance of the samples."""',
    "    total = len(samples)",
    "    if total == 0:",
    '        raise ValueError("no samples")',
    "    centre = sum(samples) / total",
    "    var = sum((s - centre) ** 2 for s in samples) / total",
    "    return centre, var",
  })
  items = quickfix_of("1,8LtlspSimilar")
  assert(#items > 0 and items[1].path:find("^math/"), "similar to unsaved lines:\n" .. show(items))
  vim.cmd("wincmd p")
  vim.cmd("edit!")
end

function cases.search()
  edit("net/headers.py")
  ready()
  local items = quickfix_of("LtlspSearch split an HTTP header line into name and value")
  local found = false
  for _, item in ipairs(items) do
    found = found or (item.path == "net/headers.py" and item.lnum <= 4 and 4 <= item.end_lnum)
  end
  assert(found, "search:\n" .. show(items))
  assert(#items <= 5, "top_k is 5, got " .. #items)
  assert(items[1].text:match("^%d%.%d%d%d  "), "each entry shows its score: " .. items[1].text)

  -- The editor's own symbol picker is the same search.
  vim.cmd("wincmd p") -- back from the quickfix window to the file
  vim.fn.setqflist({}, "r", { title = "", items = {} })
  vim.lsp.buf.workspace_symbol("mean and variance of a list of numbers")
  wait("workspace/symbol results", function()
    return #vim.fn.getqflist() > 0
  end)

  require("ltlsp").reindex()
  wait("the reindex to finish", function()
    return noted("ltlsp: indexed:") ~= nil
  end)
end

function cases.bad_input()
  edit("net/headers.py")
  ready()
  -- Lines with nothing but blanks.
  vim.api.nvim_buf_set_lines(0, -1, -1, false, { "", "", "" })
  local last = vim.api.nvim_buf_line_count(0)
  vim.cmd(string.format("%d,%dLtlspSimilar", last - 1, last))
  wait("the blank-lines error", function()
    return noted("only blank lines", vim.log.levels.ERROR) ~= nil
  end)
  -- A selection of more than 1 MB.
  local huge = {}
  for i = 1, 40000 do
    huge[#huge + 1] = string.format("def function_%d(x):", i)
    huge[#huge + 1] = string.format("    return x + %d", i)
  end
  vim.api.nvim_buf_set_lines(0, 0, -1, false, huge)
  vim.cmd("%LtlspSimilar")
  wait("the huge-selection error", function()
    return noted("select at most", vim.log.levels.ERROR) ~= nil
  end)
  vim.cmd("edit!")
  -- A buffer never saved to a file.
  vim.cmd("enew")
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "def f():", "    return 1" })
  vim.cmd("LtlspSimilar")
  assert(noted("not saved to a file", vim.log.levels.WARN), vim.inspect(notes))
  -- A file outside any git repository.
  vim.cmd("edit " .. vim.fn.fnameescape(env.LTLSP_NVIM_OUTSIDE))
  vim.cmd("LtlspSearch anything at all")
  assert(noted("not inside a git repository", vim.log.levels.WARN), vim.inspect(notes))
  -- A file that is not UTF-8: Neovim reads it as latin1; similar still answers.
  edit("legacy/latin1.py")
  assert(#vim.lsp.buf_get_clients(0) > 0, "attached to the latin1 file")
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local items = quickfix_of("LtlspSimilar")
  assert(#items > 0, "no results for the latin1 file")
  for _, item in ipairs(items) do
    assert(not (item.path == "legacy/latin1.py" and item.lnum <= 3 and item.end_lnum >= 2),
      "the query itself came back:\n" .. show(items))
  end
  for _, note in ipairs(notes) do
    assert(not note.message:find("Traceback", 1, true), note.message)
  end
end

function cases.failing_assertion()
  assert(false, "this case fails on purpose")
end

local ok, err = pcall(cases[env.LTLSP_NVIM_CASE])
if ok then
  local file = io.open(env.LTLSP_NVIM_RESULT, "w")
  file:write("ok")
  file:close()
  vim.cmd("qall!")
else
  io.stderr:write("FAILED: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
