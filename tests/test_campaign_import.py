"""A campaign's list: a CSV with bad rows gets an exact per-row report and every row is kept (skipped with its
reason) or reported as a duplicate; problems with the whole file refuse it and store nothing."""

from __future__ import annotations

import pytest

from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.campaigns.csv_import import CampaignClosed, CsvRefused, import_csv, import_json
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign() -> Campaign:
    agent = make_agent(greeting="Hi {{name}}, about order {{order}}.")
    return Campaign.objects.create(name="Orders", agent=agent)


def test_bad_rows_get_an_exact_report_and_are_kept_as_skipped(campaign):
    DoNotCall.objects.create(number="+14155550177")
    data = (
        b"Phone,name,order,note\n"
        b"+1 415 555 0150,Ana,A1,\n"
        b"4155550151,Bo,A2,\n"
        b"+14155550152,,A3,\n"
        b"+1 415 555 0150,Ana again,A4,\n"
        b"\n"
        b"+14155550177,Dee,A5,\n"
        b"+1 415 555 01,Eve,A6,\n"
        b"+14155550153,Fay,A7,x,extra\n"
        b"+442079460958,Gus,A8,\n"
    )
    report = import_csv(campaign, data)
    assert [p.as_dict() for p in report.problems] == [
        {
            "line": 3,
            "phone": "4155550151",
            "error": "“4155550151” has no country code: start with + and the country code, e.g. +1 415 555 0100.",
            "stored": "skipped",
        },
        {"line": 4, "phone": "+14155550152", "error": "No value for {{name}}.", "stored": "skipped"},
        {
            "line": 5,
            "phone": "+1 415 555 0150",
            "error": "Duplicate of line 2: the number is called once.",
            "stored": "duplicate",
        },
        {"line": 7, "phone": "+14155550177", "error": "On the do-not-call list.", "stored": "skipped"},
        {
            "line": 8,
            "phone": "+1 415 555 01",
            "error": "“+1 415 555 01” is not a valid phone number for its country code (+1). Check the digits, "
            "e.g. +1 415 555 0100.",
            "stored": "skipped",
        },
        {"line": 9, "phone": "+14155550153", "error": "Has 5 fields; the header has 4.", "stored": "skipped"},
    ]
    assert (report.lines, report.created, report.skipped, report.duplicates) == (8, 2, 5, 1)
    assert report.summary() == "8 row(s) read: 2 to call, 5 skipped, 1 duplicate(s)."
    rows = list(CampaignRow.objects.values_list("position", "phone", "status", "outcome", "timezone", "variables"))
    assert rows == [
        (2, "+14155550150", "pending", "", "America/Los_Angeles", {"name": "Ana", "order": "A1", "note": ""}),
        (3, "4155550151", "skipped", "", "", {"name": "Bo", "order": "A2", "note": ""}),
        (4, "+14155550152", "skipped", "", "America/Los_Angeles", {"name": "", "order": "A3", "note": ""}),
        (
            7,
            "+14155550177",
            "skipped",
            "do-not-call",
            "America/Los_Angeles",
            {"name": "Dee", "order": "A5", "note": ""},
        ),
        (8, "+1 415 555 01", "skipped", "", "", {"name": "Eve", "order": "A6", "note": ""}),
        (9, "+14155550153", "skipped", "", "America/Los_Angeles", {"name": "Fay", "order": "A7", "note": "x"}),
        (10, "+442079460958", "pending", "", "Europe/London", {"name": "Gus", "order": "A8", "note": ""}),
    ]
    assert CampaignRow.objects.get(position=4).error == "No value for {{name}}."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"number,name,order\n+14155550150,Ana,A1\n",
         "The file has no “phone” column: the first line must name the columns, e.g. phone,name."),
        (b"phone,name\n+14155550150,Ana\n",
         "The agent's lines use {{order}}: add a column for each (order)."),
        (b"phone,name,order,first name\n+14155550150,Ana,A1,x\n",
         "Column 4 (“first name”) is not a variable name: letters, digits and _ . -, starting with a letter or _ "
         "(at most 64 characters)."),
        (b"phone,name,name,order\n", "The column “name” appears twice."),
        (b"phone,name,order\n", "The file has no rows under its header."),
        ("phone,name,order\n+14155550150,Zoë,A1\n".encode("latin-1"),
         "The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again."),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_and_nothing_is_stored(campaign, data, message):
    with pytest.raises(CsvRefused) as refused:
        import_csv(campaign, data)
    assert refused.value.message == message
    assert not CampaignRow.objects.exists()


def test_semicolons_a_bom_and_json_rows(campaign):
    report = import_csv(campaign, "\ufeffphone;name;order\n+14155550150;Ana;A1\n".encode())
    assert (report.created, report.problems) == (1, [])
    other = Campaign.objects.create(name="API", agent=campaign.agent)
    report = import_json(other, [{"phone": "+14155550150", "name": "Ana", "order": 7}, {"phone": "+14155550151"}, 5])
    assert [p.as_dict() for p in report.problems] == [
        {"line": 2, "phone": "+14155550151", "error": "No value for {{name}}, {{order}}.", "stored": "skipped"},
        {
            "line": 3,
            "phone": "",
            "error": "Not an object with a phone and variables. Enter a phone number with its country code, e.g. "
            "+1 415 555 0100. No value for {{name}}, {{order}}.",
            "stored": "skipped",
        },
    ]
    assert other.rows.get(position=1).variables == {"name": "Ana", "order": "7"}
    assert other.rows.get(position=3).phone == "line 3"


def test_a_second_list_is_appended_after_the_first_and_numbers_already_there_are_called_once(campaign):
    import_csv(campaign, b"phone,name,order\n+14155550150,Ana,A1\nbad,Bo,A2\n")
    report = import_csv(
        campaign, b"phone,name,order\n+14155550160,Cy,B1\n+1 415 555 0150,Ana,B2\n+14155550160,Cy,B3\nbad,Di,B4\n"
    )
    assert (report.lines, report.created, report.skipped, report.duplicates) == (4, 1, 1, 2)
    assert [(p.line, p.phone, p.error, p.stored) for p in report.problems] == [
        (3, "+1 415 555 0150", "Already in the campaign (an earlier list): the number is called once.", "duplicate"),
        (4, "+14155550160", "Duplicate of line 2: the number is called once.", "duplicate"),
        (5, "bad", "“bad” is not a phone number. Write it with its country code, e.g. +1 415 555 0100.", "skipped"),
    ]
    assert list(campaign.rows.order_by("position").values_list("position", "phone", "status", "variables")) == [
        (2, "+14155550150", "pending", {"name": "Ana", "order": "A1"}),
        (3, "bad", "skipped", {"name": "Bo", "order": "A2"}),
        (5, "+14155550160", "pending", {"name": "Cy", "order": "B1"}),
        (8, "line 8", "skipped", {"name": "Di", "order": "B4"}),  # "bad" is taken: the position names it
    ]


@pytest.mark.parametrize("status", [Campaign.Status.CANCELLED, Campaign.Status.COMPLETED])
def test_a_cancelled_or_completed_campaign_takes_no_more_rows(campaign, status):
    import_csv(campaign, b"phone,name,order\n+14155550150,Ana,A1\n")
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    with pytest.raises(CampaignClosed, match=f"This campaign is {status}: it takes no more rows"):
        import_json(campaign, [{"phone": "+14155550160", "name": "Cy", "order": "B1"}])
    assert list(campaign.rows.values_list("phone", flat=True)) == ["+14155550150"]
