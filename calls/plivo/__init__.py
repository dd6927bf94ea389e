"""The Plivo HTTP side: incoming webhooks, their signatures, stream tokens, answer XML and the REST client."""
