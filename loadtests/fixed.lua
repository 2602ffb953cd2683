-- wrk script: POST the same body every time (quotes change nothing, so they can repeat).
-- usage: wrk ... -s loadtests/fixed.lua <url> -- <body file> <bearer key>
function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
end
