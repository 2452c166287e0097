-- wrk script for one-shot WebAssembly execution: POST /execute with a module as multipart.
-- Usage: WASM=path/to/module.wasm KEY=kiln_… wrk -s bench/wrk/execute.lua http://127.0.0.1:9000/execute
-- The same module every time, so after the first request every execution is a cache hit.

local file = assert(io.open(assert(os.getenv("WASM"), "set WASM"), "rb"))
local module = file:read("*a")
file:close()
local boundary = "kilnbenchboundary7d3f"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("KEY"), "set KEY")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="wasm"; filename="module.wasm"\r\n'
  .. "Content-Type: application/wasm\r\n\r\n"
  .. module .. "\r\n"
  .. "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="input"\r\n\r\n'
  .. "bench\r\n"
  .. "--" .. boundary .. "--\r\n"
