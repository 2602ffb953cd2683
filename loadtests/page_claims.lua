-- wrk script: the claim page's POST /claim/{id}, one member token per request (a member of its
-- own), each from a phone address of its own in X-Forwarded-For (the gateway under test
-- trusts 127.0.0.1 as its proxy, so the per-address limit sees many phones).
-- usage: wrk ... -s loadtests/page_claims.lua <url> -- <tokens file> <first line>
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  -- Threads take disjoint stretches of the file, starting at line <first line>.
  counter = tonumber(args[2] or "0") + (tid or 0) * 1000000
  wrk.method = "POST"
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local address = string.format("10.%d.%d.%d", math.floor(counter / 65536) % 256,
    math.floor(counter / 256) % 256, counter % 256)
  local body = '{"member_token":"' .. token .. '","request_id":"r' .. counter .. '"}'
  return wrk.format(nil, nil,
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}, body)
end
