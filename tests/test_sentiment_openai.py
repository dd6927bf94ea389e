"""The LLM sentiment scorer (listen mode's rolling sentiment) with the real OpenAI SDK against the local wire fake:
the exact request, the number it reads back, and VADER whenever the model fails or answers nonsense."""

from __future__ import annotations

import logging

import pytest

from streaming.providers.sentiment import OfflineSentiment, OpenAISentiment, create_sentiment, vader_score
from tests.factories import make_config
from tests.fakes.openai_server import ChatScript

pytestmark = pytest.mark.django_db
SYSTEM = (
    "Rate the sentiment of the phone call utterance the user sends, from -1 (very negative) to 1 (very positive), "
    "0 neutral. Reply with the number only."
)
ANGRY = "This is the third time you people charged me twice, I am furious"


async def test_the_model_is_asked_for_one_number_and_its_answer_is_the_score(openai_fake):
    openai_fake.script(ChatScript(content="-0.8"))
    scorer = OpenAISentiment(make_config(llm_model="gpt-4o-mini"))
    assert await scorer.score(ANGRY) == -0.8
    [request] = openai_fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "gpt-4o-mini",
        "temperature": 0,
        "max_tokens": 8,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ANGRY}],
    }


@pytest.mark.parametrize(
    ("reply", "score"),
    [("0.65", 0.65), ("Score: 0.4 (mildly positive)", 0.4), ("3", 1.0), ("-7.5", -1.0), ("0.12345", 0.123)],
)
async def test_the_first_number_in_the_reply_is_read_and_bounded(openai_fake, reply, score):
    openai_fake.script(ChatScript(content=reply))
    assert await OpenAISentiment(make_config()).score("Thanks, that helps a lot") == score


@pytest.mark.parametrize(
    "script",
    [
        ChatScript(content="I cannot rate that."),  # no number
        ChatScript(status=500),
        ChatScript(status=429),
        ChatScript(status=401, error_code="invalid_api_key"),
    ],
)
async def test_a_failing_or_senseless_model_is_replaced_by_vader_with_one_log_line(openai_fake, script, caplog):
    openai_fake.script(script)
    with caplog.at_level(logging.INFO, logger="streaming.providers.sentiment"):
        assert await OpenAISentiment(make_config()).score(ANGRY) == vader_score(ANGRY)
    assert len(openai_fake.requests) == 1  # no retry: a live call never waits for a sentiment
    assert [r.getMessage() for r in caplog.records if r.name == "streaming.providers.sentiment"] == [
        f"Sentiment by the LLM failed ({'ValueError' if script.status == 200 else _error_class(script)}); scored "
        "offline"
    ]
    assert "sk-test" not in caplog.text


def _error_class(script: ChatScript) -> str:
    return {500: "InternalServerError", 429: "RateLimitError", 401: "AuthenticationError"}[script.status]


async def test_an_empty_utterance_scores_zero_without_a_request(openai_fake):
    assert await OpenAISentiment(make_config()).score("   ") == 0.0
    assert openai_fake.requests == []


async def test_the_scorer_follows_the_agents_language_model_choice(openai_fake, settings):
    assert isinstance(create_sentiment(make_config(llm_provider="auto")), OpenAISentiment)  # OpenAI configured
    assert isinstance(create_sentiment(make_config(llm_provider="openai")), OpenAISentiment)
    assert isinstance(create_sentiment(make_config(llm_provider="offline")), OfflineSentiment)
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""  # nothing configured: VADER
    assert isinstance(create_sentiment(make_config(llm_provider="auto")), OfflineSentiment)
