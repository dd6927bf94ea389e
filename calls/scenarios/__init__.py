"""Scenarios (scripted callers with expectations) and replays of real calls, run through the real engine."""
