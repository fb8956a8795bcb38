"""What template.yaml declares: the routes and the table key, and where the audit lines go."""

from integration_credentials.adapters.audit import MARKER
from local_stack.template import load_template, resources_of_type, routes, table_resource


def test_template_declares_ten_endpoints_and_the_table_key():
    declared = {(r.method, r.path) for r in routes()}
    assert declared == {
        ("POST", "/integration-credentials"),
        # The seed's /integration-credentials/ (tests/tools/test_route_selection.py)
        ("POST", "/integration-credentials/{proxy+}"),
        ("GET", "/integration-credentials"),
        ("GET", "/integration-credentials/{proxy+}"),
        ("GET", "/integration-credentials/provider/{provider}"),
        ("GET", "/integration-credentials/{credentials_id}"),
        ("PUT", "/integration-credentials/{credentials_id}"),
        ("DELETE", "/integration-credentials/{credentials_id}"),
        ("POST", "/integration-credentials/{credentials_id}/refresh"),
        ("POST", "/integration-credentials/{credentials_id}/verify"),
        ("POST", "/integration-credentials/connect"),
        ("GET", "/integration-credentials/oauth/callback"),
    }
    assert len({r.function for r in routes()}) == 10
    _, table = table_resource()
    assert table["KeySchema"] == [
        {"AttributeName": "org_id", "KeyType": "HASH"},
        {"AttributeName": "provider", "KeyType": "RANGE"},
    ]


def test_every_function_routes_its_audit_lines_with_the_codes_marker():
    # Every function logs to the one group (Globals: LoggingConfig), none overrides it.
    template = load_template()
    assert template["Globals"]["Function"]["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionsLogGroup"}}
    for name, function in resources_of_type("AWS::Serverless::Function").items():
        assert "LoggingConfig" not in function["Properties"], name
    # ...whose one subscription filter routes the lines carrying the marker to the archive.
    [audit_filter] = resources_of_type("AWS::Logs::SubscriptionFilter").values()
    props = audit_filter["Properties"]
    assert props["FilterPattern"] == '{ $.audit = "' + MARKER + '" }'
    assert props["LogGroupName"] == {"Ref": "FunctionsLogGroup"}
    assert props["DestinationArn"] == {"Fn::GetAtt": ["AuditDeliveryStream", "Arn"]}
    assert "AuditBucket" in template["Resources"]
