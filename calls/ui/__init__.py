"""The staff web UI: call list, detail, live page, dashboard, exports and recordings."""
