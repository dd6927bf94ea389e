"""The agent list in the admin, with what each agent's next call actually runs.

The agents app imports no other app, so the column that needs the provider registry is added here: the calls app
registers the agent admin again with it (``calls/admin.py`` imports this module).
"""

from __future__ import annotations

from django.contrib import admin

from agents.admin import AgentAdmin
from agents.models import Agent
from streaming.providers.effective import effective


class AgentListAdmin(AgentAdmin):
    list_display = ["name", "enabled", "language", "runs", "number_count", "version", "updated_at"]

    @admin.display(description="what runs on the next call")
    def runs(self, agent: Agent) -> str:
        """Not the raw choices: "auto" with no keys is the offline engines."""
        now = effective(
            agent.stt_provider, agent.llm_provider, agent.tts_provider, model=agent.llm_model, voice=agent.voice
        )
        return " · ".join(f"{stage.stage} {stage.name}" for stage in now.stages)


admin.site.unregister(Agent)
admin.site.register(Agent, AgentListAdmin)
