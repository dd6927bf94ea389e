"""The versioned REST API (/api/v1/): API keys, JSON errors, calls and agents."""
