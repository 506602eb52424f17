-- wrk script: send `depth` GET requests per write (pipelining).
-- Usage: wrk ... -s benches/http/pipeline.lua URL -- 16
local depth = 16
function init(args)
  depth = tonumber(args[1]) or depth
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format(nil, "/")
  end
  req = table.concat(reqs)
end
function request()
  return req
end
