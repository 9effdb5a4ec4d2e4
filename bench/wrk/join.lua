-- Joins the line as new anonymous visitors and keeps each answer's token, one file per wrk thread
-- (`$WRK_TOKENS/tokens-N.txt`), for status.lua to present.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  out = io.open((os.getenv("WRK_TOKENS") or ".") .. "/tokens-" .. id .. ".txt", "a")
  wrk.method = "POST"
  wrk.headers["Accept"] = "application/json"
end
function response(status, headers, body)
  local token = body:match('"token":"([^"]+)"')
  if token then out:write(token, "\n") end
end
