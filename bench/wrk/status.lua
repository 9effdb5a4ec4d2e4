-- Status checks, each with the next of the tokens join.lua collected, in turn: a token comes back
-- only after all the others (more than a replica remembers as verified). Pointed at the ceiling
-- server the same script measures the ceiling with wrk's own cost of a scripted request.
local tokens = {}
function init(args)
  local dir = os.getenv("WRK_TOKENS") or "."
  for n = 1, 2 do
    local f = io.open(dir .. "/tokens-" .. n .. ".txt")
    if f then
      for line in f:lines() do tokens[#tokens + 1] = line end
      f:close()
    end
  end
  next_token = math.random(#tokens)
end
function request()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[next_token] })
end
