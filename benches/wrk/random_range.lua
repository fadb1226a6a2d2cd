-- S4: a 64 KiB range at a random offset of the file on every request:
--   Range: bytes=a-(a+65535), 0 <= a <= size - 65536.
-- Arguments after `--`: the file's size in bytes, then the random seed. The
-- seed is fixed so every server is asked for the same sequence of ranges.
-- NOTE: no response() here: wrk would then buffer every 64 KiB body in the
-- client; compare.sh checks bytes per response instead.

local size = 0
local span = 65536

function init(args)
  size = tonumber(args[1])
  math.randomseed(tonumber(args[2] or "1"))
end

function request()
  local a = math.random(0, size - span)
  return wrk.format(nil, nil, { ["Range"] = string.format("bytes=%d-%d", a, a + span - 1) })
end
