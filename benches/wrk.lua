-- One GET per request, cycling through the ids in $BENCH_IDS and filling them into $BENCH_PATH
-- (a string.format pattern; a path without %s stays as it is). $BENCH_TOKEN, if set, signs in.
local ids, i = {}, 0
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end
if #ids == 0 then ids[1] = "" end
local pattern = os.getenv("BENCH_PATH")
local headers = {}
local token = os.getenv("BENCH_TOKEN") or ""
if token ~= "" then headers["Authorization"] = "Bearer " .. token end

request = function()
  i = i % #ids + 1
  return wrk.format("GET", string.format(pattern, ids[i]), headers)
end
