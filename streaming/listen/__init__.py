"""Listen mode: live transcription of calls people answer (one-way streams of both sides)."""
