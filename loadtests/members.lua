-- wrk script: GET a member's resource, cycling over `count` registered members.
-- usage: wrk ... -s loadtests/members.lua <base url> -- <id prefix> <count> <suffix> <bearer key>
-- e.g. suffix "/points" reads GET /v1/members/<prefix><i>/points; "-" reads the member itself.
function init(args)
  prefix = "/v1/members/" .. args[1]
  count = tonumber(args[2])
  suffix = args[3] == "-" and "" or args[3]
  counter = math.random(0, count - 1)
  wrk.method = "GET"
  if args[4] then wrk.headers["Authorization"] = "Bearer " .. args[4] end
end

function request()
  counter = (counter + 1) % count
  return wrk.format(nil, prefix .. counter .. suffix)
end
