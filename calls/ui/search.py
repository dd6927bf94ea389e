"""Search over what was said: PostgreSQL full-text search (words in any form: "book" finds "booked", a web-search
syntax: "quoted phrases", -excluded, or) plus a plain substring match; SQLite (development) has the substring match.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from calls.models import Turn

SEARCH_CONFIG = "english"


def full_text() -> bool:
    return connection.vendor == "postgresql"


def search_filter(text: str) -> Q:
    """Calls whose summary or any turn matches ``text``."""
    turns = Turn.objects.filter(call=OuterRef("pk"))
    if full_text():
        from django.contrib.postgres.search import SearchQuery, SearchVector

        query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        turns = turns.annotate(document=SearchVector("text", config=SEARCH_CONFIG))
        return Q(summary__icontains=text) | Q(Exists(turns.filter(Q(document=query) | Q(text__icontains=text))))
    return Q(summary__icontains=text) | Q(Exists(turns.filter(text__icontains=text)))
