-- Kiln storage schema, version 4 (SQLite): WebAssembly execution details in usage events.
-- Forward-only: never edit a released migration; add a new numbered file instead.

-- Set for WebAssembly executions (`/execute`, stored modules), NULL for other calls: the
-- module's size, the input's (stdin) size and the guest's peak linear memory, in bytes.
ALTER TABLE usage_events ADD COLUMN module_bytes INTEGER;
ALTER TABLE usage_events ADD COLUMN input_bytes INTEGER;
ALTER TABLE usage_events ADD COLUMN memory_peak_bytes INTEGER;
