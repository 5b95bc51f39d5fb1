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
* Custom fields: select schema ``{"type": "option", "custom": "...customfieldtypes:select", "customId"}`` and
  createmeta ``allowedValues`` ``[{"self": ".../customFieldOption/<id>", "value", "id"}]`` (atlassian/gajira-create#33
  on Cloud, AtlassianPS/JiraPS#56 on Server); the textfield/float/userpicker/multiselect keys are Jira's
  standard plugin keys (not looked up). Option errors: Cloud "Specify a valid 'id' or 'name' for <Name>"
  (public Cloud clients quoting it); DC "Option value 'X' is not valid" (getsentry/sentry#13001), "Option id
  'X' is not valid" (pycontribs/jira#798), "Could not find valid 'id' or 'value' in the Parent Option object."
  for a bare string (lesstif/php-jira-rest-client#470, AtlassianPS/JiraPS#56).
* Components: DC "Component name 'X' is not valid" (magicdude4eva/graylog-jira-alarmcallback#8), "data was not
  an array" (gioboa/jira-plugin#53, pycontribs/jira#29); Cloud makes a component of an unknown name, so a
  caller without the right gets "You do not have permission to create new components. Contact your project
  admin or Jira admin for assistance." (ankitpokhrel/jira-cli#861). "Component id 'X' is not valid" is a guess.
* Users: Cloud ``/user/search`` objects (self, accountId, accountType, emailAddress, avatarUrls, displayName,
  active, timeZone, locale: pycontribs/jira#1842), ``username`` refused with "The query parameter 'username' is
  not supported in GDPR strict mode." (pycontribs/jira#1842, AtlassianPS/JiraPS#465), anonymous callers get
  empty results (Atlassian's "Find users" page); DC objects (self, key, name, emailAddress, avatarUrls,
  displayName, active, deleted, timeZone, locale: DC "Search users" example) and "The username query parameter
  was not provided" (Jira func tests, Dapplo.Jira#66). Cloud's answer with neither ``query`` nor ``accountId``
  is the one JiraPS#465 saw for an empty username (a guess for this exact case).
* Reporter: DC "The reporter specified is not a user." (Jira func tests), "expected Object containing a 'name'
  property" (seen for ``assignee`` on DC 9.12, guilhemmarchand/TA-jira-service-desk-simple-addon#221); Cloud
  "Account ID X does not exist." (go-jira/jira#333) and "Reporter is required." for a ``name`` (go-jira/jira#316,
  amundsen-io/amundsen#1206); without "Modify Reporter" the field "cannot be set" (go-jira/jira#23,
  ahungry/org-jira#181).
* Epics: an Epic Link to a non-epic -> ``gh.epic.error.not.found`` (Jira Software's untranslated key, seen on
  Server/DC: jira-offline, ankitpokhrel/jira-cli#344; Cloud's answer is a guess); team-managed wrong parent ->
  ``{"parentId": "Given parent work item does not belong to appropriate hierarchy"}`` (a quoted Cloud response).
* Remote links: ``POST`` -> ``{"id": 100, "self": ".../issue/TST-1/remotelink/100"}`` (Atlassian's "REST API for
  Remote Issue Links"), missing url/title -> "'URL' is required.", "'Link Text' is required." (pycontribs/jira#157).
* Comments: ``{"startAt", "maxResults", "total", "comments"}`` (Jira REST docs); an empty body -> errors.comment
  "Comment body can not be empty!" (public fakes and clients quoting it; the ``comment`` key is from memory).
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
ISSUE_NOT_FOUND_CLOUD = "Issue does not exist or you do not have permission to see it."


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


# ---------------------------------------------------------------------------------------------- fields & screens

RITA_ID = "5b10ac8d82e05b22cc7d4ef5"


def task(**extra: object) -> dict:
    return {"fields": {"project": {"key": "KAN"}, "issuetype": {"name": "Task"}, "summary": "x", **extra}}


def rejected(client: JIRA, payload: dict) -> dict:
    with pytest.raises(JIRAError) as err:
        post_issue(client, payload)
    assert err.value.status_code == 400
    return err.value.response.json()["errors"]


def test_custom_fields_show_in_field_list_and_createmeta(cloud: FakeJira) -> None:
    cloud.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform", "Payments"])
    cloud.add_field("customfield_10051", "Areas", kind="array-option", allowed_values=["web", "api"])
    cloud.add_field("customfield_10052", "Cost", kind="number")
    cloud.add_field("customfield_10053", "Notes")
    cloud.add_field("customfield_10054", "Approver", kind="user")
    cloud.add_field("customfield_10055", "Hidden", on_screen=False)
    cloud.required_fields["customfield_10050"] = "Team"
    client = cloud_client(cloud)
    fields = {f["id"]: f for f in client.fields()}
    team = fields["customfield_10050"]
    assert team["custom"] is True and team["clauseNames"] == ["cf[10050]", "Team"]
    assert team["schema"] == {
        "type": "option",
        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "customId": 10050,
    }
    assert fields["customfield_10051"]["schema"]["items"] == "option"
    assert fields["customfield_10051"]["schema"]["custom"].endswith(":multiselect")
    assert fields["customfield_10052"]["schema"]["custom"].endswith(":float")
    assert fields["customfield_10053"]["schema"]["custom"].endswith(":textfield")
    assert fields["customfield_10054"]["schema"] == {
        "type": "user",
        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
        "customId": 10054,
    }
    for type_id in ("10001", "10004", "10005"):  # every issue type has them on its screen
        meta = {f["fieldId"]: f for f in client._get_json(f"issue/createmeta/KAN/issuetypes/{type_id}")["fields"]}
        assert {"customfield_10050", "customfield_10051", "customfield_10054"} <= set(meta)
        assert "customfield_10055" not in meta
    meta = {f["fieldId"]: f for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    assert meta["customfield_10050"]["required"] is True
    platform, payments = meta["customfield_10050"]["allowedValues"]
    assert set(platform) == {"self", "value", "id"} and platform["value"] == "Platform"
    assert platform["self"].endswith(f"/rest/api/2/customFieldOption/{platform['id']}")
    assert meta["customfield_10051"]["operations"] == ["add", "set", "remove"]

    assert rejected(client, task()) == {"customfield_10050": "Team is required."}
    assert rejected(client, task(customfield_10050={"value": "Nope"})) == {
        "customfield_10050": "Specify a valid 'id' or 'name' for Team"
    }
    assert rejected(client, task(customfield_10050="Platform", customfield_10052="3")) == {
        "customfield_10050": "Specify a valid 'id' or 'name' for Team",
        "customfield_10052": "Operation value must be a number",
    }
    assert rejected(client, task(customfield_10050={"value": "Platform"}, customfield_10055="x")) == {
        "customfield_10055": NOT_ON_SCREEN.format("customfield_10055")
    }
    response = post_issue(
        client,
        task(
            customfield_10050={"id": payments["id"]},
            customfield_10051=[{"value": "api"}],
            customfield_10052=2.5,
            customfield_10053="hello",
            customfield_10054={"accountId": RITA_ID},
        ),
    )
    got = client._get_json(f"issue/{response.json()['key']}")["fields"]
    assert got["customfield_10050"] == payments
    assert [o["value"] for o in got["customfield_10051"]] == ["api"]
    assert (got["customfield_10052"], got["customfield_10053"]) == (2.5, "hello")
    assert got["customfield_10054"]["displayName"] == "Rita Requester"
    assert got["customfield_10055"] is None  # unset custom fields show as null


def test_option_errors_on_data_center(dc: FakeJira) -> None:
    dc.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform"])
    client = dc_client(dc)
    assert rejected(client, task(customfield_10050={"value": "Nope"})) == {
        "customfield_10050": "Option value 'Nope' is not valid"
    }
    assert rejected(client, task(customfield_10050={"id": "1"})) == {"customfield_10050": "Option id '1' is not valid"}
    assert rejected(client, task(customfield_10050="Platform")) == {
        "customfield_10050": "Could not find valid 'id' or 'value' in the Parent Option object."
    }
    assert post_issue(client, task(customfield_10050={"value": "Platform"})).status_code == 201


def test_components_of_a_project(cloud: FakeJira, dc: FakeJira) -> None:
    client = cloud_client(cloud)
    meta = {f["fieldId"] for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    assert "components" not in meta  # a project without components has no such field on its screen
    assert rejected(client, task(components=[{"name": "Backend"}])) == {
        "components": NOT_ON_SCREEN.format("components")
    }
    cloud.components["KAN"] = ["Backend", "Frontend"]
    meta = {f["fieldId"]: f for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    backend, frontend = meta["components"]["allowedValues"]
    assert set(backend) == {"self", "id", "name"} and backend["self"].endswith(f"/rest/api/2/component/{backend['id']}")
    assert meta["components"]["schema"] == {"type": "array", "items": "component", "system": "components"}
    assert client.project("KAN").raw["components"] == [backend, frontend]
    assert rejected(client, task(components=[{"name": "Mobile"}])) == {
        "components": "You do not have permission to create new components. Contact your project admin or Jira "
        "admin for assistance."
    }
    assert rejected(client, task(components={"name": "Backend"})) == {"components": "data was not an array"}
    key = post_issue(client, task(components=[{"name": "Backend"}, {"id": frontend["id"]}])).json()["key"]
    assert client.issue(key).raw["fields"]["components"] == [backend, frontend]

    dc.components["KAN"] = ["Backend"]
    d = dc_client(dc)
    assert rejected(d, task(components=[{"name": "Mobile"}])) == {"components": "Component name 'Mobile' is not valid"}
    assert rejected(d, task(components=[{"id": "999"}])) == {"components": "Component id '999' is not valid"}


@pytest.mark.parametrize(
    ("field", "type_name", "value"),
    [
        ("labels", "Task", ["devops"]),
        ("priority", "Task", {"name": "High"}),
        ("reporter", "Task", {"accountId": RITA_ID}),
        ("parent", "Sub-task", {"key": "KAN-15"}),
        ("customfield_10016", "Task", 3),
        ("customfield_10014", "Task", "KAN-14"),
    ],
)
def test_a_field_off_the_screen_is_missing_and_refused(
    cloud: FakeJira, field: str, type_name: str, value: object
) -> None:
    client = cloud_client(cloud)
    type_id = {"Task": "10002", "Sub-task": "10005"}[type_name]
    meta = {f["fieldId"] for f in client._get_json(f"issue/createmeta/KAN/issuetypes/{type_id}")["fields"]}
    assert field in meta
    cloud.screen_hidden_fields.add(field)
    meta = {f["fieldId"] for f in client._get_json(f"issue/createmeta/KAN/issuetypes/{type_id}")["fields"]}
    assert field not in meta
    payload = {"project": {"key": "KAN"}, "issuetype": {"name": type_name}, "summary": "x", field: value}
    assert rejected(client, {"fields": payload}) == {field: NOT_ON_SCREEN.format(field)}


# ---------------------------------------------------------------------------------------------- users


def test_user_search_cloud(cloud: FakeJira) -> None:
    client = cloud_client(cloud)
    [rita] = client.search_users(query="rita@example.com")
    assert (rita.accountId, rita.displayName, rita.emailAddress, rita.active) == (
        RITA_ID,
        "Rita Requester",
        "rita@example.com",
        True,
    )
    assert rita.raw["accountType"] == "atlassian" and "name" not in rita.raw and "key" not in rita.raw
    assert [u["accountId"] for u in client._get_json("user/search", params={"query": "Requ"})] == [RITA_ID]
    assert client._get_json("user/search", params={"query": "nobody@example.com"}) == []
    assert client._get_json("user/search", params={"accountId": RITA_ID})[0]["displayName"] == "Rita Requester"
    cloud.add_user("olga@example.com", "Olga Old", active=False)
    assert client._get_json("user/search", params={"query": "olga"}) == []  # Cloud lists active users only
    cloud.cloud_hidden_emails.add("rita@example.com")
    assert "emailAddress" not in client._get_json("user/search", params={"query": "rita"})[0]
    with pytest.raises(JIRAError) as err:
        client.search_users(user="rita")  # `username` is gone from Cloud
    assert (err.value.status_code, err.value.text) == (
        400,
        "The query parameter 'username' is not supported in GDPR strict mode.",
    )
    assert requests.get(f"{cloud.url}/rest/api/2/user/search?query=rita").status_code == 401


def test_user_search_data_center(dc: FakeJira) -> None:
    client = dc_client(dc)
    [rita] = client.search_users(user="rita@example.com")
    assert (rita.name, rita.key, rita.emailAddress, rita.displayName) == (
        "rita",
        "JIRAUSER10100",
        "rita@example.com",
        "Rita Requester",
    )
    assert "accountId" not in rita.raw and rita.raw["self"].endswith("/rest/api/2/user?username=rita")
    assert [u["name"] for u in client._get_json("user/search", params={"username": "Rita Req"})] == ["rita"]
    assert client._get_json("user/search", params={"username": "zed"}) == []
    dc.add_user("olga@example.com", "Olga Old", name="olga", active=False)
    assert client._get_json("user/search", params={"username": "olga"}) == []
    assert client.search_users(user="olga", includeInactive=True)[0].active is False
    with pytest.raises(JIRAError) as err:
        client.search_users(query="rita")  # Data Center knows no `query`
    assert (err.value.status_code, err.value.text) == (400, "The username query parameter was not provided")


def test_reporter_on_create(cloud: FakeJira, dc: FakeJira) -> None:
    client = cloud_client(cloud)
    key = post_issue(client, task(reporter={"accountId": RITA_ID})).json()["key"]
    issue = client.issue(key)
    assert (issue.fields.reporter.accountId, issue.fields.reporter.displayName) == (RITA_ID, "Rita Requester")
    assert issue.fields.creator.displayName == "doe-bot"
    assert rejected(client, task(reporter={"accountId": "nope"})) == {"reporter": "Account ID nope does not exist."}
    assert rejected(client, task(reporter={"name": "rita"})) == {"reporter": "Reporter is required."}
    cloud.reporter_settable = False  # no "Modify Reporter" permission: still on the screen, refused
    meta = {f["fieldId"] for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    assert "reporter" in meta
    assert rejected(client, task(reporter={"accountId": RITA_ID})) == {"reporter": NOT_ON_SCREEN.format("reporter")}

    d = dc_client(dc)
    key = post_issue(d, task(reporter={"name": "rita"})).json()["key"]
    assert d.issue(key).fields.reporter.name == "rita"
    assert rejected(d, task(reporter={"name": "zed"})) == {"reporter": "The reporter specified is not a user."}
    assert rejected(d, task(reporter={"accountId": RITA_ID})) == {
        "reporter": "expected Object containing a 'name' property"
    }
    assert d.search_issues("reporter = rita", json_result=True)["issues"][0]["key"] == key


# ---------------------------------------------------------------------------------------------- epics


def test_company_managed_epics_use_epic_link(cloud: FakeJira, dc: FakeJira) -> None:
    client = cloud_client(cloud)
    meta = {f["fieldId"] for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    assert "customfield_10014" in meta and "parent" not in meta
    epic_meta = {f["fieldId"] for f in client._get_json("issue/createmeta/KAN/issuetypes/10004")["fields"]}
    assert "customfield_10014" not in epic_meta
    key = post_issue(client, task(customfield_10014="KAN-14")).json()["key"]
    fields = client._get_json(f"issue/{key}")["fields"]
    assert fields["customfield_10014"] == "KAN-14" and fields["parent"]["key"] == "KAN-14"  # Cloud shows both
    assert rejected(client, task(customfield_10014="KAN-15")) == {"customfield_10014": "gh.epic.error.not.found"}
    assert rejected(client, task(parent={"key": "KAN-14"})) == {"parent": NOT_ON_SCREEN.format("parent")}
    assert client.project("KAN").raw["simplified"] is False

    d = dc_client(dc)
    dc.add_issue("KAN-9", "Auth epic", issue_type="Epic")
    key = post_issue(d, task(customfield_10014="KAN-9")).json()["key"]
    fields = d._get_json(f"issue/{key}")["fields"]
    assert fields["customfield_10014"] == "KAN-9" and "parent" not in fields  # Data Center: no parent
    assert d.search_issues('"Epic Link" = KAN-9', json_result=True)["issues"][0]["key"] == key


def test_team_managed_epics_are_parents(cloud: FakeJira) -> None:
    cloud.project_style["KAN"] = "team"
    client = cloud_client(cloud)
    assert client.project("KAN").raw["simplified"] is True and client.project("KAN").raw["style"] == "next-gen"
    meta = {f["fieldId"]: f for f in client._get_json("issue/createmeta/KAN/issuetypes/10002")["fields"]}
    assert "customfield_10014" not in meta and meta["parent"]["schema"] == {"type": "issuelink", "system": "parent"}
    epic_meta = {f["fieldId"] for f in client._get_json("issue/createmeta/KAN/issuetypes/10004")["fields"]}
    assert "parent" not in epic_meta
    key = post_issue(client, task(parent={"key": "KAN-14"})).json()["key"]
    fields = client._get_json(f"issue/{key}")["fields"]
    assert fields["customfield_10014"] is None
    parent = fields["parent"]
    assert set(parent) == {"id", "key", "self", "fields"} and parent["key"] == "KAN-14"
    assert set(parent["fields"]) == {"summary", "status", "priority", "issuetype"}
    assert parent["fields"]["issuetype"]["name"] == "Epic"
    # the seeded story's epic (add_issue(epic=...)) is its parent here too
    assert client._get_json("issue/KAN-15")["fields"]["parent"]["key"] == "KAN-14"
    assert client._get_json("issue/KAN-15")["fields"]["customfield_10014"] is None
    hierarchy = "Given parent work item does not belong to appropriate hierarchy"
    assert rejected(client, task(parent={"key": "KAN-15"})) == {"parentId": hierarchy}
    cloud.add_issue("OPS-1", "Other epic", issue_type="Epic")
    assert rejected(client, task(parent={"key": "OPS-1"})) == {"parentId": hierarchy}
    assert rejected(client, task(customfield_10014="KAN-14")) == {
        "customfield_10014": NOT_ON_SCREEN.format("customfield_10014")
    }
    hits = client._get_json("search/jql", params={"jql": "parent = KAN-14", "fields": "summary"})["issues"]
    assert {h["key"] for h in hits} == {"KAN-15", key}


# ---------------------------------------------------------------------------------------------- remote links & comments


def test_remote_links(cloud: FakeJira, dc: FakeJira) -> None:
    client = cloud_client(cloud)
    link = client.add_simple_link("KAN-15", {"url": "https://slack.example/t/1", "title": "Slack thread"})
    assert link.raw == {"id": 10000, "self": f"{cloud.url}/rest/api/2/issue/KAN-15/remotelink/10000"}
    with pytest.warns(Warning, match="applicationlinks"):  # the library asks /rest/applinks first
        client.add_remote_link("KAN-15", {"url": "https://ci.example/1", "title": "CI"}, globalId="ci-1")
    url = client._get_url("issue/KAN-15/remotelink")
    again = client._session.post(
        url, data=json.dumps({"globalId": "ci-1", "object": {"url": "https://ci.example/2", "title": "CI #2"}})
    )
    assert again.status_code == 200 and again.json()["id"] == 10001  # same globalId: updated in place
    links = client._get_json("issue/KAN-15/remotelink")
    assert [(x["id"], x["object"]["title"]) for x in links] == [(10000, "Slack thread"), (10001, "CI #2")]
    assert links[1]["globalId"] == "ci-1" and "globalId" not in links[0]
    assert [r.object.url for r in client.remote_links("KAN-15")] == [
        "https://slack.example/t/1",
        "https://ci.example/2",
    ]
    assert cloud.remote_links_of("KAN-15") == links
    with pytest.raises(JIRAError) as err:
        client._session.post(url, data=json.dumps({"object": {"url": ""}}))
    assert err.value.response.json()["errors"] == {"url": "'URL' is required.", "title": "'Link Text' is required."}
    cloud.hidden_keys.add("KAN-14")
    with pytest.raises(JIRAError) as err:
        client.add_simple_link("KAN-14", {"url": "https://x.example", "title": "x"})
    assert (err.value.status_code, err.value.text) == (404, ISSUE_NOT_FOUND_CLOUD)

    d = dc_client(dc)
    with pytest.raises(JIRAError) as err:
        d._get_json("issue/KAN-99/remotelink")
    assert (err.value.status_code, err.value.text) == (404, "Issue Does Not Exist")


def test_comments(cloud: FakeJira, dc: FakeJira) -> None:
    client = cloud_client(cloud)
    comment = client.add_comment("KAN-15", "h3. DevOps task\nCreated *KAN-16*.")
    assert comment.body == "h3. DevOps task\nCreated *KAN-16*." and comment.author.displayName == "doe-bot"
    assert set(comment.raw) >= {"id", "self", "author", "body", "updateAuthor", "created", "updated"}
    assert comment.raw["self"] == f"{cloud.url}/rest/api/2/issue/{cloud.issue('KAN-15')['id']}/comment/{comment.id}"
    client.add_comment("KAN-15", "second")
    page = client._get_json("issue/KAN-15/comment")
    assert (page["startAt"], page["total"], [c["body"] for c in page["comments"]]) == (
        0,
        2,
        ["h3. DevOps task\nCreated *KAN-16*.", "second"],
    )
    assert [c.body for c in client.comments("KAN-15")] == [c["body"] for c in cloud.comments_of("KAN-15")]
    assert (
        client._get_json("search/jql", params={"jql": "comment ~ second", "fields": "summary"})["issues"][0]["key"]
        == "KAN-15"
    )
    with pytest.raises(JIRAError) as err:
        client.add_comment("KAN-15", "  ")
    assert err.value.response.json() == {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}}
    for key in ("KAN-999", "KAN-14"):
        cloud.hidden_keys.add("KAN-14")
        with pytest.raises(JIRAError) as err:
            client.add_comment(key, "hi")
        assert (err.value.status_code, err.value.text) == (404, ISSUE_NOT_FOUND_CLOUD)

    d = dc_client(dc)
    d.add_comment("KAN-1", "on DC")
    assert d._get_json("issue/KAN-1/comment")["comments"][0]["author"]["name"] == "doe-bot"
    dc.hidden_keys.add("KAN-2")
    with pytest.raises(JIRAError) as err:
        d.comments("KAN-2")
    assert (err.value.status_code, err.value.text) == (
        404,
        "You do not have the permission to see the specified issue.",
    )
