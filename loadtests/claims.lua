-- wrk script: POST a claim with a member id no other request of the run uses.
-- usage: wrk ... -s loadtests/claims.lua <url> -- <run id> <bearer key>
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  prefix = (args[1] or "run") .. "-" .. tostring(tid or 0) .. "-"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
end

function request()
  counter = counter + 1
  local body = '{"member_id":"' .. prefix .. counter .. '","channel":"online"}'
  return wrk.format(nil, nil, nil, body)
end
