"""What an operator gets from template.yaml: alarms that notify the topic, watch what they say
and only metrics the code really emits; access logs without callers' data; an audit archive with
one record per line."""

import re
from typing import Any

from local_stack.template import ROOT, resources_of_type

LAYER = ROOT / "layers" / "common" / "integration_credentials"


def alarms() -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources_of_type("AWS::CloudWatch::Alarm").items()}


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]


def emitted_metric_names() -> set[str]:
    names = set()
    for path in LAYER.rglob("*.py"):
        names |= set(re.findall(r'add_metric\(\s*name="([A-Za-z_.]+)"', path.read_text()))
    return names


def test_every_alarm_notifies_the_alarm_topic_both_ways():
    assert len(alarms()) >= 9
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_errors_and_throttles_cover_every_function():
    # Two alarms each (the API functions; the refresh pipeline's): a metric math alarm may read
    # at most 10 metrics (CloudWatch "Limits that apply to alarms based on metric math").
    functions = set(resources_of_type("AWS::Serverless::Function"))
    for metric in ("Errors", "Throttles"):
        covered: list[str] = []
        for name in (f"Function{metric}Alarm", f"RefreshFunction{metric}Alarm"):
            stats = metric_stats(alarms()[name])
            assert {stat["MetricName"] for stat in stats} == {metric}
            assert len(stats) <= 10, name
            covered += [stat["Dimensions"][0]["Value"]["Ref"] for stat in stats]
        assert sorted(covered) == sorted(functions)


def test_no_metric_math_alarm_reads_more_than_ten_metrics():
    for name, alarm in alarms().items():
        assert len(metric_stats(alarm)) <= 10, name


def test_the_service_metrics_alarmed_on_are_ones_the_code_emits():
    ours = [
        stat
        for alarm in alarms().values()
        for stat in metric_stats(alarm)
        if stat["Namespace"] == "IntegrationCredentials"
    ]
    assert {stat["MetricName"] for stat in ours} <= emitted_metric_names()
    assert {stat["MetricName"] for stat in ours} >= {
        "DependencyUnavailable",
        "DependencyMisconfigured",
        "ReauthorizationRequired",
        "IntegrityError",
        "InvalidApiKeyRecord",
    }
    # Powertools Metrics publishes under the service dimension.
    assert all(
        stat["Dimensions"] == [{"Name": "service", "Value": "integration-credentials"}] for stat in ours
    )


def test_the_refresh_queues_are_watched():
    by_queue = {
        alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: alarm["MetricName"]
        for alarm in alarms().values()
        if alarm.get("Namespace") == "AWS/SQS"
    }
    assert by_queue == {
        "RefreshDeadLetterQueue": "ApproximateNumberOfMessagesVisible",
        "RefreshQueue": "ApproximateAgeOfOldestMessage",
        "RefreshShardDeadLetterQueue": "ApproximateNumberOfMessagesVisible",
    }


def test_the_api_5xx_alarm_is_a_rate_of_the_stages_requests():
    alarm = alarms()["ApiServerErrorRateAlarm"]
    assert {stat["MetricName"] for stat in metric_stats(alarm)} == {"5xx", "Count"}
    assert "100 * errors / requests" in alarm["Metrics"][-1]["Expression"]


def test_api_access_logs_are_json_without_headers_query_strings_or_bodies():
    import json

    settings = resources_of_type("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs"} <= set(line)
    variables = " ".join(line.values())
    for leak in ("$request.", "$context.path", "querystring", "header", "body", "authorizer"):
        assert leak not in variables.lower(), leak


def test_the_audit_archive_has_one_record_per_line():
    stream = resources_of_type("AWS::KinesisFirehose::DeliveryStream")
    [config] = [res["Properties"]["ExtendedS3DestinationConfiguration"] for res in stream.values()]
    processors = [processor["Type"] for processor in config["ProcessingConfiguration"]["Processors"]]
    assert processors == ["Decompression", "CloudWatchLogProcessing", "AppendDelimiterToRecord"]


def test_the_dashboard_shows_p50_and_p99_per_route_and_the_alarmed_metrics():
    import json

    [dashboard] = resources_of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
    metrics = [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]
    durations = [metric for metric in metrics if metric[:2] == ["AWS/Lambda", "Duration"]]
    routes = {route_function for route_function in resources_of_type("AWS::Serverless::Function")} - {
        "RefreshSchedulerFunction",
        "RefreshShardScannerFunction",
        "RefreshWorkerFunction",
    }
    assert {metric[3] for metric in durations} == routes
    stats = [
        metric[-1]["stat"] for metric in metrics if isinstance(metric[-1], dict) and "stat" in metric[-1]
    ]
    assert stats.count("p50") == len(routes) and stats.count("p99") == len(routes)
    shown = {metric[1] for metric in metrics if metric[0] == "IntegrationCredentials"}
    alarmed = {
        stat["MetricName"]
        for alarm in alarms().values()
        for stat in metric_stats(alarm)
        if stat["Namespace"] == "IntegrationCredentials"
    }
    assert alarmed <= shown
    # Refresh.<outcome> is emitted as f"Refresh.{outcome}" for the worker's outcome words.
    refresh_code = (LAYER / "logic" / "refresh.py").read_text()
    for name in shown - emitted_metric_names():
        prefix, _, outcome = name.partition(".")
        assert prefix == "Refresh" and f'"{outcome}"' in refresh_code, name
