-- wrk script for WebAssembly execution: a multipart POST with a module and/or stdin.
--   WASM=path/to/module.wasm KEY=kiln_… wrk -s bench/wrk/execute.lua http://127.0.0.1:9000/execute
--   KEY=kiln_… wrk -s bench/wrk/execute.lua http://127.0.0.1:9000/api/modules/hello/execute
-- With WASM set, the module is uploaded with every request (the same bytes every time, so after
-- the first request every execution is a cache hit); without it only `input` is sent, as for a
-- stored module executed by name.

local boundary = "kilnbenchboundary7d3f"
local body = ""
local path = os.getenv("WASM")
if path ~= nil and path ~= "" then
  local file = assert(io.open(path, "rb"))
  local module = file:read("*a")
  file:close()
  body = "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="wasm"; filename="module.wasm"\r\n'
    .. "Content-Type: application/wasm\r\n\r\n"
    .. module .. "\r\n"
end
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("KEY"), "set KEY")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = body
  .. "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="input"\r\n\r\n'
  .. "bench\r\n"
  .. "--" .. boundary .. "--\r\n"
