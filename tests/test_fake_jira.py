"""The fake Jira server, driven by the real ``jira`` library (3.10) the app uses.

What the fake answers, and where each shape was looked up (no live Jira was reachable from here):

* Cloud ``/rest/api/{2,3}/search`` -> 410 ``{"errorMessages": ["The requested API has been removed. Please
  migrate to the /rest/api/3/search/jql API. A full migration guideline is available at
  https://developer.atlassian.com/changelog/#CHANGE-2046"], "errors": {}}`` (dapplo/Dapplo.Jira#79,
  adyscorpius/logseq-jira#34, aws-samples/aws-securityhub-jira-software-integration#9 - via this library).
* Cloud 401: body ``Client must be authenticated to access this resource.`` (53 bytes), ``WWW-Authenticate:
  OAuth realm="<site, percent-encoded>"``, media type following ``Accept`` (pycontribs/jira#1897,
  atlassian/gajira-login#59, brekkylab/backlot ``errors/atlassian.py``, measured). Those measurements also
  say Cloud serves most routes to an unresolved credential as the anonymous user (issue 404, search
  empty, only ``/myself`` 401): ``cloud_bad_auth_as_anonymous = True`` emulates that.
* DC 401: ``X-Seraph-LoginReason: AUTHENTICATED_FAILED`` and an HTML "Unauthorized (401)" page
  (jira.atlassian.com ID-6351, GothenburgBitFactory/bugwarrior#689, solidify/jira-azuredevops-migrator#3).
* DC ``/rest/api/2/search/jql`` -> 404 ``{"message":"HTTP 404 Not Found","status-code":404,"sub-code":-1}``
  (kelos-dev/kelos#1439); Cloud unknown path -> RFC 7807 ``No endpoint GET /rest/api/2/x.`` (backlot).
* Issue 404: Cloud ``Issue does not exist or you do not have permission to see it.`` (Atlassian community
  "Authenticating JIRA Rest API via Office 365 Oauth"); DC ``Issue Does Not Exist`` / ``You do not have
  the permission to see the specified issue.`` (jira-rest-java-client tests, gnl42/JiraConnector#45).
* Create, all as ``{"errorMessages": [], "errors": {...}}`` (public clients/tests quoting real answers):
  project "Specify a valid project ID or key"; issuetype "Specify an issue type" / "The issue type
  selected is invalid."; summary "You must specify a summary of the issue." / "Summary must be less than
  255 characters."; labels "The label 'x y' contains spaces which is invalid."; priority "Specify the
  Priority (name) in the string format"; "Field '<id>' cannot be set. It is not on the appropriate
  screen, or unknown."; description "Operation value must be a string"; "Issue type is a sub-task but
  parent issue key or id not specified."
* Links: ``POST /issueLink`` 404 "No issue link type with name 'X' found." (jira-rest-java-client tests,
  andygrunwald/go-jira#660). Direction: ``inwardIssue`` <outward verb> ``outwardIssue`` (A blocks B); GET
  shows ``outwardIssue`` on A and ``inwardIssue`` on B (atlassian/atlassian-mcp-server#112,
  b1ff/atlassian-dc-mcp#74, mozilla/jira-bugzilla-integration#1285, sooperset/mcp-atlassian#1274).
* JQL: "An issue with key 'KAN-999' does not exist for field 'key'.", "The issue key '0.0' for field
  'key' is invalid." (hygieia/hygieia#1376), "The value 'X' does not exist for the field 'status'."
  (soundcloud/project-dev-kpis#22), "Field 'x' does not exist or you do not have permission to view it."
  (tenable/integration-jira-cloud#25), "Error in the JQL Query: ..." with "(line 1, character N)"
  (steyep/alfred-jira#95, Jira's own func tests), "Issue 'X' could not be found in function
  'linkedIssues'." and "An issue with key 'X' does not exist for field 'parent'." (Jira func tests),
  "Not able to sort using field 'summary'." and "Unbounded JQL queries are not allowed here. ..."
* Shapes: ``search/jql`` -> ``{"issues", "isLast", "nextPageToken"?}`` (backlot, measured); createmeta:
  Cloud ``issueTypes`` / ``fields`` pages, DC ``values`` pages with ``isLast`` (jira.js cloud/server types).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from jira import JIRA, JIRAError

from tests.fakes.fake_jira import FakeJira

NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."


@pytest.fixture
def cloud() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("KAN-14", "Payments epic", issue_type="Epic")
        fake.add_issue(
            "KAN-15",
            "Checkout flow for guests",
            description="As a guest I want to pay without an account.",
            labels=["web", "checkout"],
            priority="High",
            epic="KAN-14",
            assignee="Alice Smith",
        )
        yield fake


@pytest.fixture
def dc() -> Iterator[FakeJira]:
    with FakeJira("datacenter") as fake:
        fake.add_issue("KAN-1", "Login page", labels=["web"])
        fake.add_issue("KAN-2", "Logout button")
        fake.add_issue("KAN-3", "Session timeout", issue_type="Sub-task", parent="KAN-1")
        yield fake


def cloud_client(fake: FakeJira, token: str | None = None) -> JIRA:
    return JIRA(
        server=fake.url,
        basic_auth=(fake.email, token or fake.api_token),
        get_server_info=True,
        max_retries=0,
    )


def dc_client(fake: FakeJira) -> JIRA:
    return JIRA(server=fake.url, token_auth=fake.pat, get_server_info=True, max_retries=0)


def post_issue(client: JIRA, payload: dict) -> requests.Response:
    """What the gateway does: the library's session, a raw POST /issue (``fields`` + ``update``)."""
    return client._session.post(client._get_url("issue"), data=json.dumps(payload))


# ---------------------------------------------------------------------------------------------- basics


def test_server_info_tells_the_library_which_deployment_it_talks_to(cloud: FakeJira, dc: FakeJira) -> None:
    assert cloud.url.startswith("http://127.0.0.1:") and not cloud.url.endswith("/")
    c = cloud_client(cloud)
    assert (c.deploymentType, c._version, c._is_cloud) == ("Cloud", (1001, 0, 0), True)
    d = dc_client(dc)
    assert (d.deploymentType, d._version, d._is_cloud) == ("Server", (9, 12, 0), False)
    assert c.myself()["emailAddress"] == "bot@example.com" and "accountId" in c.myself()
    assert d.myself()["name"] == "doe-bot"


def test_read_an_issue_with_nested_objects(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    issue = client.issue("KAN-15")
    assert issue.key == "KAN-15" and issue.fields.summary == "Checkout flow for guests"
    assert issue.fields.issuetype.name == "Story" and issue.fields.issuetype.subtask is False
    assert issue.fields.status.name == "To Do" and issue.fields.status.statusCategory.key == "new"
    assert (issue.fields.priority.id, issue.fields.priority.name) == ("2", "High")
    assert (issue.fields.project.id, issue.fields.project.key, issue.fields.project.name) == (
        "10000",
        "KAN",
        "Kanban Demo",
    )
    assert issue.fields.labels == ["web", "checkout"]
    assert issue.fields.description == "As a guest I want to pay without an account."
    assert issue.fields.assignee.displayName == "Alice Smith" and issue.fields.assignee.accountId

    raw = client._get_json("issue/KAN-15", params={"fields": "summary,issuetype,parent,labels"})
    assert set(raw) >= {"id", "key", "self", "fields"}
    assert set(raw["fields"]) == {"summary", "issuetype", "parent", "labels"}
    parent = raw["fields"]["parent"]  # Cloud shows the epic as the parent
    assert parent["key"] == "KAN-14" and parent["fields"]["issuetype"]["name"] == "Epic"
    assert set(parent["fields"]) == {"summary", "status", "priority", "issuetype"}
    no_parent = client._get_json("issue/KAN-14", params={"fields": "summary,parent"})
    assert "parent" not in no_parent["fields"]  # Jira omits it rather than sending null

    v3 = client._session.get(f"{cloud.url}/rest/api/3/issue/KAN-15").json()
    assert v3["fields"]["description"]["type"] == "doc"


def test_missing_and_hidden_issues_are_404(cloud: FakeJira, dc: FakeJira) -> None:
    cloud.hidden_keys.add("KAN-14")
    client = cloud_client(cloud)
    for key in ("KAN-999", "KAN-14"):
        with pytest.raises(JIRAError) as err:
            client.issue(key)
        assert err.value.status_code == 404
        assert err.value.response.json() == {
            "errorMessages": ["Issue does not exist or you do not have permission to see it."],
            "errors": {},
        }
    dc.hidden_keys.add("KAN-2")
    d = dc_client(dc)
    with pytest.raises(JIRAError) as err:
        d.issue("KAN-99")
    assert (err.value.status_code, err.value.text) == (404, "Issue Does Not Exist")
    with pytest.raises(JIRAError) as err:
        d.issue("KAN-2")
    assert err.value.text == "You do not have the permission to see the specified issue."


# ---------------------------------------------------------------------------------------------- create


def test_create_with_a_link_in_the_same_request(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    payload = {
        "fields": {
            "project": {"key": "KAN"},
            "issuetype": {"name": "Task"},
            "summary": "[DevOps] Checkout flow for guests",
            "description": "h2. Goal\nShip it",
            "labels": ["devops"],
            "priority": {"name": "High"},
            "customfield_10016": 5,
        },
        "update": {"issuelinks": [{"add": {"type": {"name": "Blocks"}, "outwardIssue": {"key": "KAN-15"}}}]},
    }
    response = post_issue(client, payload)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "key", "self"} and body["key"] == "KAN-16"  # next after the highest key

    [created] = cloud.created_issues()
    assert created["key"] == "KAN-16" and created["fields"]["customfield_10016"] == 5
    assert created["fields"]["priority"]["name"] == "High"
    # the new task blocks the story: outwardIssue on the task, inwardIssue on the story
    [on_task] = cloud.links_of("KAN-16")
    assert on_task["type"]["name"] == "Blocks" and on_task["outwardIssue"]["key"] == "KAN-15"
    [on_story] = cloud.links_of("KAN-15")
    assert on_story["inwardIssue"]["key"] == "KAN-16" and on_story["type"]["inward"] == "is blocked by"
    assert client.issue("KAN-15").fields.issuelinks[0].inwardIssue.key == "KAN-16"

    # the library's own create_issue (string project and type are looked up through /project)
    issue = client.create_issue(project="KAN", issuetype="Bug", summary="Broken button")
    assert issue.key == "KAN-17" and issue.fields.issuetype.name == "Bug"
    assert [i["key"] for i in cloud.created_issues()] == ["KAN-16", "KAN-17"]


@pytest.mark.parametrize(
    ("fields", "update", "expected"),
    [
        ({"project": {"key": "NOPE"}}, None, {"project": "Specify a valid project ID or key"}),
        (
            {"project": {"key": "KAN"}},
            None,
            {"issuetype": "Specify an issue type", "summary": "You must specify a summary of the issue."},
        ),
        (
            {"project": {"id": "10000"}, "issuetype": {"id": "999"}, "summary": "x"},
            None,
            {"issuetype": "The issue type selected is invalid."},
        ),
        (
            {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x" * 256},
            None,
            {"summary": "Summary must be less than 255 characters."},
        ),
        (
            {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x", "labels": ["dev ops"]},
            None,
            {"labels": "The label 'dev ops' contains spaces which is invalid."},
        ),
        (
            {
                "project": {"key": "KAN"},
                "issuetype": {"name": "Task"},
                "summary": "x",
                "priority": {"name": "P0"},
            },
            None,
            {"priority": "Specify the Priority (name) in the string format"},
        ),
        (
            {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x", "Story Points": 3},
            None,
            {"Story Points": NOT_ON_SCREEN.format("Story Points")},
        ),
        (
            {
                "project": {"key": "KAN"},
                "issuetype": {"name": "Task"},
                "summary": "x",
                "description": {"a": 1},
            },
            None,
            {"description": "Operation value must be a string"},
        ),
        (
            {"project": {"key": "KAN"}, "issuetype": {"name": "Sub-task"}, "summary": "x"},
            None,
            {"parent": "Issue type is a sub-task but parent issue key or id not specified."},
        ),
        (
            {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x"},
            {"issuelinks": [{"add": {"type": {"name": "Blocked"}, "outwardIssue": {"key": "KAN-15"}}}]},
            {"issuelinks": "No issue link type with name 'Blocked' found."},
        ),
    ],
)
def test_create_validation_answers_like_jira(cloud: FakeJira, fields: dict, update: dict | None, expected: dict):
    client = cloud_client(cloud)
    payload = {"fields": fields, **({"update": update} if update else {})}
    with pytest.raises(JIRAError) as err:
        post_issue(client, payload)
    assert err.value.status_code == 400
    assert err.value.response.json() == {"errorMessages": [], "errors": expected}
    assert err.value.text == ", ".join(expected.values())  # what the library makes of it
    assert cloud.created_issues() == []


def test_create_respects_screens_and_required_fields(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    cloud.screen_hidden_fields.add("customfield_10016")
    cloud.required_fields["customfield_10020"] = "Sprint"
    base = {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x"}
    with pytest.raises(JIRAError) as err:
        post_issue(client, {"fields": {**base, "customfield_10016": 3}})
    assert err.value.response.json()["errors"] == {
        "customfield_10016": "Field 'customfield_10016' cannot be set. It is not on the appropriate screen, "
        "or unknown.",
        "customfield_10020": "Sprint is required.",
    }
    meta = client._get_json("issue/createmeta/KAN/issuetypes/10002")
    by_id = {f["fieldId"]: f for f in meta["fields"]}
    assert "customfield_10016" not in by_id and by_id["customfield_10020"]["required"] is True
    assert by_id["summary"]["required"] is True


def test_issue_link_endpoint_and_renamed_link_types(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    cloud.add_issue("KAN-20", "Other")
    response = client.create_issue_link("Relates", "KAN-20", "KAN-15")
    assert response.status_code == 201 and response.content == b""
    assert cloud.links_of("KAN-15")[0]["inwardIssue"]["key"] == "KAN-20"
    with pytest.raises(JIRAError) as err:
        client.create_issue_link("Nope", "KAN-20", "KAN-15")
    assert (err.value.status_code, err.value.text) == (404, "No issue link type with name 'Nope' found.")

    cloud.link_types = [{"id": "10000", "name": "Dependency", "inward": "is depended on by", "outward": "depends on"}]
    assert client._get_json("issueLinkType")["issueLinkTypes"][0]["name"] == "Dependency"
    assert client._get_json("issueLinkType")["issueLinkTypes"][0]["self"].endswith("/issueLinkType/10000")


def test_fields_priorities_projects_and_createmeta(dc: FakeJira) -> None:
    with FakeJira("cloud", story_points_field_name="Story point estimate") as fake:
        fields = {f["name"]: f for f in cloud_client(fake).fields()}
        assert fields["Story point estimate"]["id"] == "customfield_10026"
        assert fields["Story point estimate"]["schema"]["custom"] == "com.pyxis.greenhopper.jira:jsw-story-points"
        assert fields["Epic Link"]["id"] == "customfield_10014" and fields["Sprint"]["id"] == "customfield_10020"
        types = cloud_client(fake)._get_json("issue/createmeta/KAN/issuetypes")
        assert set(types) == {"maxResults", "startAt", "total", "issueTypes"} and types["total"] == 5
    d = dc_client(dc)
    assert {f["name"]: f["id"] for f in d.fields()}["Story Points"] == "customfield_10016"
    assert [p.name for p in d.priorities()] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert d.project("KAN").name == "Kanban Demo" and d.project("10000").key == "KAN"
    assert [t.name for t in d.project_issue_types("KAN")][-1] == "Sub-task"
    assert "summary" in [f.fieldId for f in d.project_issue_fields("KAN", "10002")]
    page = d._get_json("issue/createmeta/KAN/issuetypes", params={"maxResults": 2})
    assert (page["total"], len(page["values"]), page["isLast"]) == (5, 2, False)
    with pytest.raises(JIRAError) as err:
        d.project("NOPE")
    assert err.value.text == "No project could be found with key 'NOPE'."


# ---------------------------------------------------------------------------------------------- search


def test_cloud_search_jql_pages_with_tokens(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    for n in range(16, 21):
        cloud.add_issue(f"KAN-{n}", f"Task {n}", labels=["bulk"])
    out = client.enhanced_search_issues(
        "project = KAN AND labels = web", fields="summary,labels", maxResults=10, json_result=True
    )
    assert out["isLast"] is True and "nextPageToken" not in out
    [hit] = out["issues"]
    assert hit["key"] == "KAN-15" and hit["fields"] == {
        "summary": "Checkout flow for guests",
        "labels": ["web", "checkout"],
    }

    first = client._get_json(
        "search/jql", params={"jql": "labels = bulk ORDER BY key ASC", "fields": "summary", "maxResults": 2}
    )
    assert [i["key"] for i in first["issues"]] == ["KAN-16", "KAN-17"] and first["isLast"] is False
    second = client._get_json(
        "search/jql",
        params={
            "jql": "labels = bulk ORDER BY key ASC",
            "fields": "summary",
            "maxResults": 2,
            "nextPageToken": first["nextPageToken"],
        },
    )
    assert [i["key"] for i in second["issues"]] == ["KAN-18", "KAN-19"]
    everything = client.enhanced_search_issues("labels = bulk", maxResults=0)  # the library follows the tokens
    assert sorted(i.key for i in everything) == ["KAN-16", "KAN-17", "KAN-18", "KAN-19", "KAN-20"]
    posted = client.enhanced_search_issues(
        "key in (KAN-15, KAN-16)", fields=["summary"], json_result=True, use_post=True
    )
    assert {i["key"] for i in posted["issues"]} == {"KAN-15", "KAN-16"}
    ids_only = client._get_json("search/jql", params={"jql": "key = KAN-15"})
    assert ids_only["issues"] == [{"id": cloud.issue("KAN-15")["id"]}]  # no fields asked, ids only


def test_cloud_old_search_is_gone(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    with pytest.raises(JIRAError) as err:
        client._get_json("search", params={"jql": "project = KAN"})
    assert err.value.status_code == 410
    assert "CHANGE-2046" in err.value.text and "/rest/api/3/search/jql" in err.value.text


def test_dc_search_pages_with_start_at_and_has_no_search_jql(dc: FakeJira) -> None:
    client = dc_client(dc)
    result = client.search_issues("project = KAN ORDER BY key ASC", fields="summary,labels", maxResults=2)
    assert [i.key for i in result] == ["KAN-1", "KAN-2"] and result.total == 3
    raw = client.search_issues("project = KAN ORDER BY key ASC", startAt=2, maxResults=5, json_result=True)
    assert (raw["startAt"], raw["maxResults"], raw["total"], [i["key"] for i in raw["issues"]]) == (
        2,
        5,
        3,
        ["KAN-3"],
    )
    assert client.search_issues("parent = KAN-1", json_result=True)["issues"][0]["key"] == "KAN-3"
    with pytest.raises(JIRAError) as err:
        client._get_json("search/jql", params={"jql": "project = KAN"})
    assert err.value.status_code == 404


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("key = KAN-999", "An issue with key 'KAN-999' does not exist for field 'key'."),
        ("key in (KAN-15, KAN-998)", "An issue with key 'KAN-998' does not exist for field 'key'."),
        ("issuekey = 0.0", "The issue key '0.0' for field 'issuekey' is invalid."),
        ("status = Blocked", "The value 'Blocked' does not exist for the field 'status'."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("reviewer = x", "Field 'reviewer' does not exist or you do not have permission to view it."),
        (
            "status = To Do",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'Do'. (line 1, character 13)",
        ),
        ("project = KAN AND", "Error in the JQL Query: Expecting a field name at the end of the query."),
        (
            "project =",
            "Error in the JQL Query: Expecting either a value, list or function before the end of the query.",
        ),
        (
            "project KAN",
            "Error in the JQL Query: Expecting operator but got 'KAN'. The valid operators are '=', '!=', "
            "'<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 9)",
        ),
        (
            'summary ~ "abc',
            "Error in the JQL Query: The quoted string 'abc' has not been completed. (line 1, character 11)",
        ),
        ("(project = KAN", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("issue in linkedIssues(KAN-404)", "Issue 'KAN-404' could not be found in function 'linkedIssues'."),
        ("parent = KAN-404", "An issue with key 'KAN-404' does not exist for field 'parent'."),
        ("project = KAN ORDER BY summary", "Not able to sort using field 'summary'."),
        (
            "ORDER BY key",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
    ],
)
def test_jql_errors_are_jiras(cloud: FakeJira, jql: str, message: str) -> None:
    with pytest.raises(JIRAError) as err:
        cloud_client(cloud)._get_json("search/jql", params={"jql": jql, "fields": "summary"})
    assert err.value.status_code == 400
    assert err.value.response.json() == {"errorMessages": [message], "errors": {}}


@pytest.mark.parametrize(
    ("jql", "keys"),
    [
        ('text ~ "guest pay"', ["KAN-15"]),
        ("summary ~ checkout", ["KAN-15"]),
        ('summary ~ "checkout flow" AND labels in (web, api)', ["KAN-15"]),
        ("issuetype = Epic OR issuetype in (Bug)", ["KAN-14"]),
        ("project = kan AND NOT (issuetype = Epic)", ["KAN-16", "KAN-15"]),
        ("issue in linkedIssues(KAN-15)", ["KAN-16"]),
        ('issue in linkedIssues("KAN-15", "is blocked by")', ["KAN-16"]),
        ('issue in linkedIssues("KAN-15", "blocks")', []),
        ("parent = KAN-14", ["KAN-15"]),
        ('status = "To Do" AND priority = High', ["KAN-15"]),
        ("labels is EMPTY", ["KAN-16", "KAN-14"]),
        ("key in (KAN-14, kan-15) ORDER BY key ASC", ["KAN-14", "KAN-15"]),
    ],
)
def test_jql_subset_selects_like_jira(cloud: FakeJira, jql: str, keys: list[str]) -> None:
    cloud.add_issue("KAN-16", "Release notes")
    cloud.add_link("Blocks", "KAN-16", "KAN-15")  # KAN-16 blocks KAN-15
    out = cloud_client(cloud)._get_json("search/jql", params={"jql": jql, "fields": "summary"})
    assert [i["key"] for i in out["issues"]] == keys


# ---------------------------------------------------------------------------------------------- auth & faults


def test_bad_credentials_get_401(cloud: FakeJira, dc: FakeJira) -> None:
    with pytest.raises(JIRAError) as err:
        cloud_client(cloud, token="wrong")
    assert (err.value.status_code, err.value.text) == (
        401,
        "Client must be authenticated to access this resource.",
    )
    assert err.value.response.headers["WWW-Authenticate"].startswith('OAuth realm="http%3A%2F%2F127.0.0.1')
    anonymous = requests.get(f"{cloud.url}/rest/api/2/issue/KAN-15")
    assert anonymous.status_code == 401

    with pytest.raises(JIRAError) as err:
        JIRA(server=dc.url, token_auth="wrong-pat", get_server_info=True, max_retries=0)
    assert err.value.status_code == 401
    assert err.value.response.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert requests.get(f"{dc.url}/rest/api/2/myself", auth=("bot", "pw")).status_code == 401  # DC wants Bearer

    cloud.cloud_bad_auth_as_anonymous = True  # what Cloud measurably does: most routes answer as anonymous
    bad = JIRA(server=cloud.url, basic_auth=(cloud.email, "wrong"), get_server_info=True, max_retries=0)
    with pytest.raises(JIRAError) as err:
        bad.issue("KAN-15")
    assert err.value.status_code == 404
    with pytest.raises(JIRAError) as err:
        bad.myself()
    assert err.value.status_code == 401


def test_injected_429_503_drops_and_latency(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    cloud.fail_next("GET", "/issue/KAN-15", status=429, headers={"Retry-After": "3"}, times=2)
    for _ in range(2):
        with pytest.raises(JIRAError) as err:
            client.issue("KAN-15")
        assert err.value.status_code == 429 and err.value.response.headers["Retry-After"] == "3"
    assert client.issue("KAN-15").key == "KAN-15"
    assert cloud.count("GET", "/issue/KAN-15") == 3

    cloud.fail_next(None, "/rest/api/2/search/jql", status=503, body={"message": "down"})
    with pytest.raises(JIRAError) as err:
        client._get_json("search/jql", params={"jql": "key = KAN-15"})
    assert (err.value.status_code, err.value.text) == (503, "down")

    cloud.drop_next("GET", "/serverInfo")
    with pytest.raises(requests.ConnectionError):
        client.server_info()
    assert client.server_info()["deploymentType"] == "Cloud"

    cloud.fail_after_create()
    with pytest.raises(requests.ConnectionError):  # created, but the client never learned
        post_issue(client, {"fields": {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x"}})
    assert [i["key"] for i in cloud.created_issues()] == ["KAN-16"]

    cloud.latency_for["/field"] = 0.2
    started = time.monotonic()
    client._get_json("field")
    assert time.monotonic() - started >= 0.2


def test_requests_are_recorded(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    cloud.reset_requests()
    client.enhanced_search_issues("key = KAN-15", fields="summary,labels", maxResults=5, json_result=True)
    post_issue(client, {"fields": {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x"}})
    search = [r for r in cloud.requests if r.path == "/rest/api/2/search/jql"][0]
    assert search.method == "GET" and search.query["jql"] == ["key = KAN-15"]
    assert search.query["fields"] == ["summary", "labels"] and search.query["maxResults"] == ["5"]
    assert search.headers["Authorization"].startswith("Basic ")
    create = [r for r in cloud.requests if r.method == "POST"][0]
    assert create.path == "/rest/api/2/issue" and create.json["fields"]["summary"] == "x"
    assert cloud.count("POST", "/issue") == 1 and cloud.count(None, "/field") == 1
    unknown = requests.get(f"{cloud.url}/rest/api/2/nope", auth=(cloud.email, cloud.api_token))
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No endpoint GET /rest/api/2/nope."
