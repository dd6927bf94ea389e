"""Scenario and replay runs carried out: the simulator calls the server as Plivo would (calls/scenarios/ judges)."""
