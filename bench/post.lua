-- wrk script: POST the body in BENCH_BODY (a file) with the headers the MCP request needs.
-- BENCH_TOKEN (a file) adds the bearer token; BENCH_HEADERS adds "name: value" pairs separated by |.
-- BENCH_VARY=1 replaces @N@ in the body with a number no other request of the run uses, so every
-- request is a different search. BENCH_PROOFS=<prefix> sends the token with the DPoP scheme and
-- a new DPoP proof with each request: thread n takes its proofs, one a line, from <prefix>-n.
-- wrk itself counts answers that are not 2xx or 3xx.
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = read(os.getenv("BENCH_BODY"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. read(token):gsub("%s+$", "")
end
for pair in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^|]+") do
  local name, value = pair:match("^%s*([^:]+):%s*(.-)%s*$")
  wrk.headers[name] = value
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

if os.getenv("BENCH_VARY") == "1" then
  local sent = 0
  function request()
    sent = sent + 1
    local body = wrk.body:gsub("@N@", thread_number .. "n" .. sent)
    return wrk.format(nil, nil, nil, body)
  end
end

local proofs_prefix = os.getenv("BENCH_PROOFS")
if proofs_prefix and proofs_prefix ~= "" then
  local proofs, next_proof
  function init()
    proofs = {}
    for line in io.lines(proofs_prefix .. "-" .. thread_number) do
      proofs[#proofs + 1] = line
    end
    next_proof = 0
    wrk.headers["Authorization"] = wrk.headers["Authorization"]:gsub("^Bearer ", "DPoP ")
  end
  function request()
    next_proof = next_proof % #proofs + 1
    wrk.headers["DPoP"] = proofs[next_proof]
    return wrk.format()
  end
end
