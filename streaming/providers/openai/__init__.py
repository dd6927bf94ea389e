"""OpenAI or any OpenAI-compatible server: the streamed reply (``llm``) and the after-call analysis (``analysis``).

Imports here are absolute, so ``import openai`` in these modules is the SDK, never this package.
"""
