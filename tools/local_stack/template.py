"""Reads template.yaml: the one definition of the table, key, parameters, functions and routes."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags into their long form."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if tag_suffix == "Ref" else {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data (intrinsics in long form)."""
    with path.open() as handle:
        return dict(yaml.load(handle, Loader=_CfnLoader))  # noqa: S506 - SafeLoader subclass


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one resource type."""
    return {name: res for name, res in load_template()["Resources"].items() if res["Type"] == kind}


def table_resource() -> tuple[str, dict[str, Any]]:
    """(logical id, properties) of the credentials table (the one keyed by org_id)."""
    for name, props in tables().items():
        if props["KeySchema"][0]["AttributeName"] == "org_id":
            return name, props
    raise LookupError("template.yaml declares no table keyed by org_id")


def tables() -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every DynamoDB table."""
    return {name: res["Properties"] for name, res in resources_of_type("AWS::DynamoDB::Table").items()}


def parameter_defaults() -> dict[str, str]:
    """Template parameters and their defaults."""
    return {name: str(p.get("Default", "")) for name, p in load_template().get("Parameters", {}).items()}


@dataclass(frozen=True)
class Route:
    """One HttpApi event: method and path of one function."""

    method: str
    path: str
    function: str
    code_uri: Path
    handler: str

    @property
    def route_key(self) -> str:
        """The HTTP API route key, `"GET /integration-credentials/{credentials_id}"`."""
        return f"{self.method} {self.path}"


def routes() -> list[Route]:
    """Every HttpApi route declared in the template."""
    found: list[Route] = []
    for name, resource in resources_of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            found.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    function=name,
                    code_uri=ROOT / props["CodeUri"],
                    handler=props["Handler"],
                )
            )
    # Which one serves a request is routing.select_route's (API Gateway's rules), not this order.
    return found


def resolve(value: Any, refs: dict[str, str], attributes: dict[tuple[str, str], str]) -> str:
    """Resolve a Ref/GetAtt/Sub value with local physical ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return attributes[(resource, attribute)]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in refs:
                return refs[name]
            resource, _, attribute = name.partition(".")  # ${Resource.Attribute} is a GetAtt
            return attributes[(resource, attribute)]

        return re.sub(r"\$\{([\w:.]+)\}", substitute, value["Fn::Sub"])
    raise ValueError(f"cannot resolve {value!r} locally")


def template_condition(condition: Any, conditions: Mapping[str, Any], parameters: Mapping[str, str]) -> bool:
    """A template condition (or a rule's assertion) for these parameters: Condition, Not, Equals,
    And, Or on parameters, as far as the template uses them."""

    def value(operand: Any) -> str:
        return parameters[operand["Ref"]] if isinstance(operand, dict) and "Ref" in operand else str(operand)

    if "Condition" in condition:
        return template_condition(conditions[condition["Condition"]], conditions, parameters)
    if "Fn::Not" in condition:
        return not template_condition(condition["Fn::Not"][0], conditions, parameters)
    if "Fn::And" in condition:
        return all(template_condition(part, conditions, parameters) for part in condition["Fn::And"])
    if "Fn::Or" in condition:
        return any(template_condition(part, conditions, parameters) for part in condition["Fn::Or"])
    if "Fn::Equals" in condition:
        left, right = condition["Fn::Equals"]
        return value(left) == value(right)
    raise ValueError(f"condition not understood here: {condition!r}")


def function_environment(
    refs: dict[str, str], attributes: dict[tuple[str, str], str], function: str | None = None
) -> dict[str, str]:
    """The environment of the functions, resolved against local resources: the Globals, plus the
    function's own `Environment.Variables` (which win, as in SAM) when `function` names one."""
    variables = dict(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    if function is not None:
        props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
        variables.update(props.get("Environment", {}).get("Variables", {}))
    environment: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and "Fn::If" in value:  # on the template's parameters (defaults)
            condition, when_true, when_false = value["Fn::If"]
            conditions = load_template().get("Conditions", {})
            # On the stack's parameters: the given ones, else the template's defaults.
            parameters = {**parameter_defaults(), **refs}
            holds = template_condition({"Condition": condition}, conditions, parameters)
            chosen = when_true if holds else when_false
            if chosen == {"Ref": "AWS::NoValue"}:
                continue
            value = chosen
        environment[name] = resolve(value, refs, attributes)
    return environment


def function_timeout(function: str) -> float:
    """A function's `Timeout` in seconds (its own, else the Globals'; Lambda's default is 3)."""
    template = load_template()
    props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    return float(props.get("Timeout", template["Globals"]["Function"].get("Timeout", 3)))


def function_timeout_of_directory(directory: str) -> float:
    """`function_timeout` of the function whose code is in functions/<directory>."""
    for name, resource in resources_of_type("AWS::Serverless::Function").items():
        if Path(resource["Properties"]["CodeUri"]).name == directory:
            return function_timeout(name)
    raise KeyError(directory)


def own_environment_names(function: str) -> set[str]:
    """The variables a function sets itself (`Environment.Variables`), on top of the Globals."""
    props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    return set(props.get("Environment", {}).get("Variables", {}))


def own_resource_environment_names(function: str) -> set[str]:
    """The variables a function sets itself that name a resource of the stack (a `Ref` to a
    resource, a `GetAtt`): unlike those set from a parameter, no setting may replace them."""
    props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    resources = set(load_template()["Resources"])
    names: set[str] = set()
    for name, value in props.get("Environment", {}).get("Variables", {}).items():
        if isinstance(value, dict) and ("Fn::GetAtt" in value or value.get("Ref") in resources):
            names.add(name)
    return names


@dataclass(frozen=True)
class Function:
    """One function of the template: logical id, code directory and handler."""

    name: str
    code_uri: Path
    handler: str


@dataclass(frozen=True)
class ScheduleTrigger:
    """A `Schedule`/`ScheduleV2` event: the function and its (unresolved) schedule expression."""

    function: Function
    schedule: Any


@dataclass(frozen=True)
class QueueTrigger:
    """An `SQS` event: the function, the queue's logical id and how the event source polls it."""

    function: Function
    queue: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: Any


def _function(name: str, props: dict[str, Any]) -> Function:
    return Function(name=name, code_uri=ROOT / props["CodeUri"], handler=props["Handler"])


def _events(kinds: tuple[str, ...]) -> list[tuple[Function, dict[str, Any]]]:
    found: list[tuple[Function, dict[str, Any]]] = []
    for name, resource in resources_of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event["Type"] in kinds:
                found.append((_function(name, props), event.get("Properties", {})))
    return found


def schedule_triggers() -> list[ScheduleTrigger]:
    """Every scheduled function (EventBridge rule `Schedule` or Scheduler `ScheduleExpression`)."""
    return [
        ScheduleTrigger(function, properties.get("Schedule", properties.get("ScheduleExpression")))
        for function, properties in _events(("Schedule", "ScheduleV2"))
    ]


def queue_triggers() -> list[QueueTrigger]:
    """Every SQS-triggered function, with the logical id of its queue (`!GetAtt <Queue>.Arn`)."""
    triggers: list[QueueTrigger] = []
    for function, properties in _events(("SQS",)):
        queue = properties["Queue"]
        if not (isinstance(queue, dict) and "Fn::GetAtt" in queue):
            raise ValueError(f"{function.name}: the SQS event's Queue must be !GetAtt <queue>.Arn")
        triggers.append(
            QueueTrigger(
                function=function,
                queue=queue["Fn::GetAtt"][0],
                batch_size=int(properties.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in properties.get("FunctionResponseTypes", []),
                maximum_concurrency=properties.get("ScalingConfig", {}).get("MaximumConcurrency"),
            )
        )
    return triggers


def function_directories() -> list[str]:
    """The functions/<name> directory of every HttpApi function, in template order."""
    return [
        Path(resource["Properties"]["CodeUri"]).name
        for resource in resources_of_type("AWS::Serverless::Function").values()
        if any(event["Type"] == "HttpApi" for event in resource["Properties"].get("Events", {}).values())
    ]
