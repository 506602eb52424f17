-- wrk script: like pipeline.lua (`depth` GET requests per write), but each
-- request of a batch has its own target (/a0 ... /a15), so no request head
-- repeats the one before it, as a browser's requests differ; the typed
-- app then parses a `Uri` per request.
-- Usage: wrk ... -s benches/http/pipeline_distinct.lua URL -- 16
local depth = 16
function init(args)
  depth = tonumber(args[1]) or depth
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format(nil, "/a" .. (i - 1))
  end
  req = table.concat(reqs)
end
function request()
  return req
end
