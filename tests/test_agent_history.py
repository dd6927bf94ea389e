"""Versions: one per change that alters behaviour (none for a no-op), exact diffs, restore, and each call's link."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from agents.models import Agent, Tool
from agents.version_diff import diff_snapshots
from agents.versioning import comparable, record_version, restore
from agents.versions import AgentVersion
from calls.models import Call
from tests.admin_forms import change_form
from tests.factories import add_faq, make_agent

pytestmark = pytest.mark.django_db

ANSWER = "/plivo/answer/"


def numbers(agent: Agent) -> list[int]:
    return list(agent.versions.order_by("number").values_list("number", flat=True))


def change_url(agent: Agent) -> str:
    return f"/admin/agents/agent/{agent.pk}/change/"


def answer(client, uuid: str = "c1", to: str = "14155550100") -> Call:
    response = client.post(ANSWER, {"CallUUID": uuid, "From": "14155550111", "To": to, "Direction": "inbound"})
    assert response.status_code == 200 and b"<Stream" in response.content
    return Call.objects.get(call_uuid=uuid)


def make_tool(name: str = "order_status") -> Tool:
    return Tool.objects.create(name=name, description="Look up an order.", url="https://api.example.com/orders")


# ---- recorded on a real change, not on a no-op ----
def test_a_new_agent_starts_at_version_1_holding_its_snapshot():
    agent = make_agent(system_prompt="Be brief.")
    version = AgentVersion.objects.get()
    assert (version.agent, version.number, version.note, version.created_by) == (agent, 1, "", None)
    assert version.snapshot == agent.snapshot()
    assert version.snapshot["version"] == agent.version == 1


def test_saving_without_a_change_records_nothing_and_a_change_records_one():
    agent = make_agent()
    agent.save()
    agent.enabled = False  # not behaviour: disabling is immediate and needs no version
    agent.save()
    assert (numbers(agent), agent.version) == ([1], 1)
    agent.enabled, agent.greeting = True, "Good morning!"
    agent.save()
    agent.save()
    assert (numbers(agent), agent.version, Agent.objects.get().version) == ([1, 2], 2, 2)
    assert agent.versions.get(number=2).snapshot["greeting"] == "Good morning!"
    assert record_version(agent) is None


def test_an_unchanged_admin_save_records_no_version(admin_client):
    agent = make_agent()
    add_faq(agent, "Hours?", "hours", "Nine to five.")
    record_version(agent)
    response = admin_client.post(change_url(agent), change_form(admin_client, change_url(agent)))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (numbers(agent), agent.version) == ([1, 2], 2)


def test_one_admin_save_of_fields_faq_and_tools_is_one_version_with_its_author(admin_client):
    agent = make_agent(number=None)
    tool = make_tool()
    form = change_form(admin_client, change_url(agent), system_prompt="Be kind.", tools=[str(tool.pk)])
    form |= {
        "faq_entries-TOTAL_FORMS": "1",
        "faq_entries-0-question": "Hours?",
        "faq_entries-0-keywords": "hours",
        "faq_entries-0-answer": "9-5",
        "faq_entries-0-position": "0",
    }
    response = admin_client.post(change_url(agent), form)
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (numbers(agent), agent.version) == ([1, 2], 2)
    version = agent.versions.get(number=2)
    assert version.created_by == User.objects.get(username="admin")
    assert version.snapshot == agent.snapshot()
    assert (version.snapshot["system_prompt"], [t["name"] for t in version.snapshot["tools"]]) == (
        "Be kind.",
        ["order_status"],
    )
    assert [f["question"] for f in version.snapshot["faq"]] == ["Hours?"]


def test_config_changed_in_code_is_recorded_by_the_next_call(client):
    agent = make_agent()
    add_faq(agent, "Hours?", "hours", "Nine to five.")  # no Agent.save(): no version yet
    call = answer(client)
    agent.refresh_from_db()
    version = agent.versions.get(number=2)
    assert (call.agent_version, agent.version, version.note) == (2, 2, "changed outside the agent page")
    assert call.agent_snapshot == version.snapshot
    assert answer(client, "c2").agent_version == 2  # unchanged: no new version
    assert numbers(agent) == [1, 2]


def test_duplicate_starts_at_version_1_with_the_knowledge():
    agent = make_agent()
    add_faq(agent, "Hours?", "hours", "Nine to five.")
    copy = agent.duplicate()
    version = copy.versions.get()
    assert (version.number, copy.version) == (1, 1)
    assert [f["question"] for f in version.snapshot["faq"]] == ["Hours?"]


# ---- the diff ----
def snapshots() -> tuple[dict, dict]:
    base = Agent.default_snapshot()
    old = base | {
        "version": 1,
        "system_prompt": "You are Ana.\nBe brief.\nNever guess prices.",
        "greeting": "Hi!",
        "temperature": 0.5,
        "end_call_phrases": ["goodbye"],
        "barge_in_enabled": True,
        "faq": [
            {"question": "Hours?", "keywords": ["hours"], "answer": "9 to 5.", "tool": "", "tool_pattern": ""},
            {"question": "Parking?", "keywords": ["parking"], "answer": "Behind.", "tool": "", "tool_pattern": ""},
        ],
        "extraction_fields": [{"name": "order_id", "type": "string", "description": "Order number"}],
    }
    tool = {
        "id": 3,
        "name": "order_status",
        "description": "Look up an order.",
        "parameters": {"type": "object", "properties": {}},
        "timeout_seconds": 5.0,
        "wait_line": "",
        "on_failure": "line",
        "failure_line": "Sorry.",
    }
    new = base | {
        "version": 2,
        "system_prompt": "You are Ana.\nBe brief and kind.\nNever guess prices.",
        "greeting": "Hello!",
        "temperature": 0.7,
        "end_call_phrases": ["goodbye", "bye now"],
        "barge_in_enabled": False,
        "faq": [
            {"question": "Hours?", "keywords": ["hours", "open"], "answer": "9 to 6.", "tool": "", "tool_pattern": ""},
            {"question": "Delivery?", "keywords": ["delivery"], "answer": "In 2 days.", "tool": "", "tool_pattern": ""},
        ],
        "extraction_fields": [{"name": "order_id", "type": "integer", "description": "Order number"}],
        "tools": [tool],
    }
    return old, new


def test_the_diff_is_field_by_field_with_line_diffs_and_entries():
    old, new = snapshots()
    assert diff_snapshots(old, new).as_text() == "\n".join(
        [
            "Persona / system prompt:",
            "  @@ -1,3 +1,3 @@",
            "   You are Ana.",
            "  -Be brief.",
            "  +Be brief and kind.",
            "   Never guess prices.",
            "Greeting: Hi! → Hello!",
            "Temperature: 0.5 → 0.7",
            "End call phrases: goodbye → goodbye, bye now",
            "Barge-in: yes → no",
            "FAQ:",
            "  changed “Hours?”",
            "    Keywords: hours → hours, open",
            "    Answer: 9 to 5. → 9 to 6.",
            "  added “Delivery?”",
            "    Keywords: delivery",
            "    Answer: In 2 days.",
            "  removed “Parking?”",
            "    Keywords: parking",
            "    Answer: Behind.",
            "Extraction fields:",
            "  changed “order_id”",
            "    Type: string → integer",
            "Tools:",
            "  added “order_status”",
            "    Description: Look up an order.",
            '    Parameters: {"properties": {}, "type": "object"}',
            "    Timeout seconds: 5.0",
            "    On failure: line",
            "    Failure line: Sorry.",
        ]
    )
    assert diff_snapshots(old, old | {"version": 7, "enabled": False}).as_text() == "No differences."


def test_a_key_an_old_snapshot_lacks_counts_as_its_default():
    old, _ = snapshots()
    del old["max_reprompts"]
    assert diff_snapshots(old, old | {"max_reprompts": Agent.default_snapshot()["max_reprompts"]}).empty


def test_the_compare_page_shows_the_diff(admin_client):
    agent = make_agent(system_prompt="You are Ana.\nBe brief.\nNever guess prices.")
    agent.system_prompt, agent.greeting = "You are Ana.\nBe brief and kind.\nNever guess prices.", "Hello & welcome"
    agent.save()
    html = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/compare/?old=1&new=2").content.decode()
    assert '<span class="removed">-Be brief.</span>' in html
    assert '<span class="added">+Be brief and kind.</span>' in html
    assert '<td class="removed">Hello, how can I help?</td><td class="added">Hello &amp; welcome</td>' in html
    version_page = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/2/").content.decode()
    assert "Changes from version 1" in version_page and '<span class="added">+Be brief and kind.</span>' in version_page
    same = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/compare/?old=2&new=2").content.decode()
    assert "No differences: both versions run calls the same way." in same
    assert admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/compare/?old=9&new=2").status_code == 404


# ---- restore ----
def test_restore_makes_a_new_version_equal_to_the_old_snapshot(admin_client):
    agent = make_agent(system_prompt="Be brief.", end_call_phrases="Goodbye\nThat's all")
    tool = make_tool()
    add_faq(agent, "Hours?", "hours, open", "Nine to five.")
    agent.faq_entries.create(question="Order?", keywords="order", answer="", tool=tool, tool_pattern=r"(?P<id>\d+)")
    agent.extraction_fields.create(name="order_id", type="string", description="Order number")
    agent.transfer_destinations.create(name="sales", destination="+14155550177", description="Buying", warm=False)
    agent.tools.set([tool])
    assert record_version(agent).number == 2
    old = agent.versions.get(number=2)

    agent.faq_entries.all().delete()
    agent.extraction_fields.update(type="integer")
    agent.transfer_destinations.all().delete()
    agent.tools.clear()
    agent.system_prompt, agent.temperature, agent.end_call_phrases = "Be chatty.", 0.9, "bye"
    agent.save()  # the fields changed: the save records the whole snapshot, relations too
    assert record_version(agent) is None
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/versions/2/restore/")
    assert response.status_code == 302
    agent = Agent.objects.get()
    assert numbers(agent) == [1, 2, 3, 4]
    restored = agent.versions.get(number=4)
    assert (restored.note, restored.created_by.username, agent.version) == ("restored from version 2", "admin", 4)
    assert comparable(restored.snapshot) == comparable(old.snapshot)
    assert comparable(agent.snapshot()) == comparable(old.snapshot)
    assert agent.end_call_phrases == "goodbye\nthat's all"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Restored version 2: it is now version 4."]


def test_restoring_what_is_already_current_records_nothing(admin_client):
    agent = make_agent()
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/versions/1/restore/")
    assert [str(m) for m in response.wsgi_request._messages] == [
        "The configuration already equals version 1: no new version."
    ]
    assert numbers(agent) == [1]


def test_restore_names_a_tool_that_is_gone_or_has_changed():
    agent = make_agent()
    kept, gone = make_tool("order_status"), make_tool("refund")
    agent.tools.set([kept, gone])
    old = record_version(agent)
    gone.delete()
    kept.wait_line = "One moment."
    kept.save()
    result = restore(agent, old)
    assert result.warnings == (
        "Tool “order_status” has changed since version 2: its current definition is used.",
        "Tool “refund” no longer exists: it was not restored.",
    )
    assert [t["name"] for t in agent.snapshot()["tools"]] == ["order_status"]
    assert result.version.note == "restored from version 2"


def test_restore_is_a_post_by_someone_who_may_change_agents(client, admin_client):
    agent = make_agent()
    agent.greeting = "Changed"
    agent.save()
    url = f"/admin/agents/agent/{agent.pk}/versions/1/restore/"
    assert admin_client.get(url).status_code == 405
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(viewer)
    assert client.get(f"/admin/agents/agent/{agent.pk}/versions/").status_code == 200
    assert client.post(url).status_code == 403
    assert numbers(agent) == [1, 2]
    assert admin_client.post(f"/admin/agents/agent/{agent.pk}/versions/7/restore/").status_code == 404


# ---- the history page and each call's link ----
def test_the_history_lists_versions_with_author_note_calls_and_what_calls_run(client, admin_client):
    agent = make_agent()
    answer(client, "c1")
    agent.greeting = "Changed"
    agent.save()
    restore(agent, agent.versions.get(number=1))
    answer(client, "c2")
    answer(client, "c3")
    html = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/").content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert [row.split("Version ")[1].split("<")[0] for row in rows] == ["3", "2", "1"]
    assert "restored from version 1" in rows[0] and "calls run this" in rows[0] and "<td>2</td>" in rows[0]
    assert "<td>1</td>" in rows[2] and "calls run this" not in rows[2]
    assert "Restore this version" not in rows[0] and "Restore this version" in rows[1]


def test_each_call_links_to_the_version_it_ran(client, admin_client):
    agent = make_agent()
    call = answer(client)
    agent.greeting = "Changed"
    agent.save()
    html = admin_client.get(f"/calls/{call.pk}/").content.decode()
    link = f'href="/admin/agents/agent/{agent.pk}/versions/1/"'
    assert link in html
    page = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/1/")
    assert page.status_code == 200 and "The first recorded version" in page.content.decode()


def test_a_version_from_before_the_history_explains_itself(admin_client):
    agent = make_agent()
    response = admin_client.get(f"/admin/agents/agent/{agent.pk}/versions/5/")
    assert response.status_code == 302
    assert response.url == f"/admin/agents/agent/{agent.pk}/versions/"
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Version 5 of Test agent is not recorded: it ran before the version history began "
        "(each call's page still shows the configuration it ran with)."
    ]


def test_the_agent_page_links_its_versions(admin_client):
    agent = make_agent()
    html = admin_client.get(change_url(agent)).content.decode()
    assert f'<a href="/admin/agents/agent/{agent.pk}/versions/">Versions (1)</a>' in html
    assert "Calls run version 1." in html
