"""Campaigns: an agent calls a list of people (calls/campaign_models.py holds the models).

csv_import.py (the list, validated row by row), windows.py (calling hours in the callee's zones), control.py
(start/pause/resume/cancel, progress), tick.py (the beat tick: claim rows, create their calls), dial.py (the one
calls.create per call), outcome.py (a call ended → the row's outcome, a retry or done), reconcile.py (rows stuck
in ``calling``), tasks.py (Celery), export.py (results CSV), admin.py.
"""
