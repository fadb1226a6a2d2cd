-- S3: the same small range of the 1 MiB file on every request. A response
-- that is not 206 Partial Content counts as bad (wrk alone would call a 200
-- with the whole file a success).

wrk.headers["Range"] = "bytes=1000-1999"

function response(status, headers, body)
  if status ~= 206 then
    bad = bad + 1
  end
end
