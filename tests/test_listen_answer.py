"""Listen mode on Plivo's side: the exact answer XML, the Dial's action, and the number's admin validation."""

from __future__ import annotations

import re

import pytest

from agents.admin import PhoneNumberForm
from agents.models import PhoneNumber
from calls.models import Call, CallEvent
from calls.plivo.tokens import read_stream_token
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

ANSWER = "/plivo/answer/"
DIAL_ACTION = "/plivo/listen/dial-action/"


def listen_number(**fields) -> PhoneNumber:
    agent = make_agent(number=None, language="en-US")
    values = {
        "number": "+14155550100",
        "agent": agent,
        "mode": PhoneNumber.Mode.LISTEN,
        "listen_dial": "+14155550123, sip:alice@example.com",
        "alert_phrases": "Cancel my account\nlawyer",
    }
    return PhoneNumber.objects.create(**(values | fields))


def answer_params(**overrides: str) -> dict[str, str]:
    params = {"CallUUID": "uuid-l1", "From": "14155550111", "To": "14155550100", "Direction": "inbound"}
    return params | {"CallStatus": "ringing"} | overrides


def stream_token(xml: str) -> str:
    match = re.search(r"ws://testserver/ws/plivo/([^/<]+)/", xml)
    assert match, xml
    assert read_stream_token(match.group(1)) == "uuid-l1"
    return match.group(1)


def test_listen_answer_is_a_one_way_stream_of_both_sides_then_the_dial(client):
    listen_number(listen_timeout_seconds=25)
    response = client.post(ANSWER, answer_params())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    xml = response.content.decode()
    token = stream_token(xml)
    assert xml == (
        "<Response>\n"
        '  <Stream bidirectional="false" audioTrack="both" '
        'statusCallbackUrl="http://testserver/plivo/stream-status/" statusCallbackMethod="POST" '
        f'contentType="audio/x-mulaw;rate=8000">ws://testserver/ws/plivo/{token}/</Stream>\n'
        '  <Dial action="http://testserver/plivo/listen/dial-action/" method="POST" timeout="25" '
        'callerId="+14155550111">\n'
        "    <Number>+14155550123</Number>\n"
        "    <User>sip:alice@example.com</User>\n"
        "  </Dial>\n"
        "</Response>\n"
    )
    call = Call.objects.get(call_uuid="uuid-l1")
    assert (call.mode, call.status) == ("listen", Call.Status.IN_PROGRESS)
    assert call.agent_snapshot["listen"] == {
        "dial": ["+14155550123", "sip:alice@example.com"],
        "caller_id": "",
        "timeout_seconds": 25,
        "no_answer": "hangup",
        "voicemail_message": "Sorry, nobody can take your call right now. Please call again later. Goodbye!",
        "alert_phrases": ["cancel my account", "lawyer"],
    }


def test_configured_caller_id_and_a_withheld_caller(client):
    listen_number(listen_caller_id="+14155550199", listen_dial="+14155550123")
    xml = client.post(ANSWER, answer_params()).content.decode()
    assert '<Dial action="http://testserver/plivo/listen/dial-action/" method="POST" timeout="30" ' in xml
    assert 'callerId="+14155550199">\n    <Number>+14155550123</Number>\n  </Dial>' in xml
    PhoneNumber.objects.update(listen_caller_id="")
    xml = client.post(ANSWER, answer_params(CallUUID="uuid-l2", From="sip:anon@example.org")).content.decode()
    assert 'callerId="+14155550100"' in xml  # not a phone number: ours


def test_agent_mode_numbers_still_get_the_bidirectional_stream(client):
    make_agent()
    xml = client.post(ANSWER, answer_params()).content.decode()
    assert '<Stream bidirectional="true" ' in xml and 'keepCallAlive="true"' in xml and "<Dial" not in xml
    assert Call.objects.get().mode == "agent"


def test_a_listen_number_with_nobody_to_dial_says_so_and_hangs_up(client):
    listen_number(listen_dial="", listen_no_answer="voicemail", listen_voicemail_message="Nobody is in.")
    xml = client.post(ANSWER, answer_params()).content.decode()
    assert xml == '<Response>\n  <Speak language="en-US">Nobody is in.</Speak>\n  <Hangup/>\n</Response>\n'
    assert Call.objects.get().error_notes == "Listen mode: the number has nobody to connect to."


@pytest.mark.parametrize(
    ("no_answer", "status", "expected"),
    [
        ("hangup", "no-answer", "<Response>\n  <Hangup/>\n</Response>\n"),
        ("voicemail", "completed", "<Response>\n  <Hangup/>\n</Response>\n"),
        (
            "voicemail",
            "busy",
            '<Response>\n  <Speak language="en-US">Leave it, call back.</Speak>\n  <Hangup/>\n</Response>\n',
        ),
    ],
)
def test_the_dial_action_after_a_taken_or_unanswered_call(client, no_answer, status, expected):
    listen_number(listen_no_answer=no_answer, listen_voicemail_message="Leave it, call back.")
    client.post(ANSWER, answer_params())
    response = client.post(DIAL_ACTION, {"CallUUID": "uuid-l1", "DialStatus": status, "DialHangupCause": "X"})
    assert response.content.decode() == expected
    event = CallEvent.objects.get(kind="listen-dial")
    assert event.data == {"status": status, "cause": "X"}


def test_the_dial_action_of_an_unknown_call_hangs_up(client):
    response = client.post(DIAL_ACTION, {"CallUUID": "nope", "DialStatus": "no-answer"})
    assert response.content.decode() == "<Response>\n  <Hangup/>\n</Response>\n"
    assert client.post(DIAL_ACTION, {}).status_code == 400


def form_data(**fields) -> dict:
    agent = make_agent(number=None)
    data = {"number": "+1 415 555 0100", "agent": agent.pk, "enabled": "on", "mode": "listen"}
    data |= {"listen_timeout_seconds": 30, "listen_no_answer": "hangup", "listen_voicemail_message": "Sorry."}
    return data | fields


def test_admin_normalizes_targets_and_phrases():
    form = PhoneNumberForm(
        form_data(
            listen_dial=" +1 (415) 555-0123 ,bob@pbx.example.com, sip:carol@example.com ",
            listen_caller_id="+1 415 555 0199",
            alert_phrases="Cancel   my account\n\nlawyer\nLAWYER\n",
        )
    )
    assert form.is_valid(), form.errors
    number = form.save()
    assert number.listen_dial == "+14155550123, sip:bob@pbx.example.com, sip:carol@example.com"
    assert number.listen_caller_id == "+14155550199"
    assert number.alert_phrases == "Cancel my account\nlawyer"
    assert number.alert_phrase_list == ["cancel my account", "lawyer"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"listen_dial": ""},
            "listen_dial",
            "A number in listen mode needs someone to connect the caller to: enter phone numbers with their country "
            "code (e.g. +1 415 555 0100) or SIP addresses (sip:alice@example.com), separated by commas.",
        ),
        (
            {"listen_dial": "+14155550123, 4155550100"},
            "listen_dial",
            "“4155550100” has no country code: start with + and the country code, e.g. +1 415 555 0100.",
        ),
        (
            {"listen_dial": "sip:no host"},
            "listen_dial",
            "“sip:no host” is not a SIP address: write it as sip:user@example.com.",
        ),
        ({"listen_dial": "+14155550123,+1 415 555 0123"}, "listen_dial", "+14155550123 is listed twice."),
        ({"listen_dial": "+14155550123", "alert_phrases": "!!!"}, "alert_phrases", "“!!!” has no word to listen for."),
    ],
)
def test_admin_refuses_bad_listen_settings(fields, field, message):
    form = PhoneNumberForm(form_data(**fields))
    assert not form.is_valid()
    assert form.errors[field] == [message]
    assert not PhoneNumber.objects.exists()


def test_agent_mode_needs_no_target():
    form = PhoneNumberForm(form_data(mode="agent", listen_dial=""))
    assert form.is_valid(), form.errors
