-- wrk script for the soak: DEPTH requests per write (pipelining), with an
-- optional method and body.
-- Usage: wrk ... -s benches/soak/wrk.lua URL -- DEPTH [METHOD [BODY]]
-- e.g. `-- 1 POST '{"a": [1, 2]}'` (keep-alive POSTs), `-- 16` (16-deep GETs)
local depth = 1
function init(args)
  depth = tonumber(args[1]) or depth
  local method, body = args[2], args[3]
  local headers = nil
  if body then
    headers = { ["Content-Type"] = "application/json" }
  end
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format(method, nil, headers, body)
  end
  req = table.concat(reqs)
end
function request()
  return req
end
