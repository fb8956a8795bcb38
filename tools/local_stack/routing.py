"""Which HTTP API route serves a request: API Gateway's documented route selection, once, for the
local stack (devserver) and for the tests of template.yaml's routes.

"Working with routes for HTTP APIs" (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-develop-routes.html) selects "the route with the most-specific match, using the following
priorities: 1. Full match for a route and method. 2. Match for a route and method with a greedy
path variable ({proxy+}). 3. The $default route", a static route before a path variable
(`GET /pets/dog/1` before `GET /pets/dog/{id}`), and `ANY` for "all methods that you haven't
defined". What it does not say is how a path ending in "/" is matched; `PathRules` names those
three points, so a test can show what each combination would do to the declared routes.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_ROUTE = "$default"
ANY = "ANY"


@dataclass(frozen=True)
class PathRules:
    """What the documentation leaves open about a trailing "/" (request `/a/` against `/a...`).

    The defaults: `/a/` does not match `/a` and does match `/a/{proxy+}`, as AWS's own emulator
    (aws-lambda-dotnet's Lambda Test Tool v2) is tested to route (`/pe/` to `GET /pe/{proxy+}`,
    `/pe` past it); a path variable takes one non-empty segment (the documentation's example is
    `/pets/6`; that emulator's matcher would give `{id}` an empty segment, which its tests never
    check). Which combination the real gateway follows only a deployed stage answers (make smoke)."""

    # `/a/` is matched as `/a` (the gateway drops one trailing slash before matching).
    trailing_slash_ignored: bool = False
    # `/a/{proxy+}` matches `/a/` (the greedy variable takes the empty rest).
    greedy_matches_empty: bool = True
    # `/a/{id}` matches `/a/` (the variable takes the empty segment).
    variable_matches_empty: bool = False


DEFAULT_RULES = PathRules()


@dataclass(frozen=True)
class RouteMatch:
    """The selected route key and the path parameters API Gateway would send."""

    route_key: str
    path_parameters: dict[str, str]


def parse_route_key(route_key: str) -> tuple[str, list[str]]:
    """`"GET /a/{b}"` -> ("GET", ["a", "{b}"]); `$default` -> ("", [])."""
    if route_key == DEFAULT_ROUTE:
        return "", []
    method, _, path = route_key.partition(" ")
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise ValueError(f"not an HTTP API route key: {route_key!r}")
    # "/" is one empty segment, as a request for "/" is; no other segment may be empty.
    segments = path.split("/")[1:]
    if path != "/" and "" in segments:
        raise ValueError(f"not an HTTP API route key: {route_key!r}")
    for position, segment in enumerate(segments):
        if _is_greedy(segment) and position != len(segments) - 1:
            raise ValueError(f"a greedy path variable must end the path: {route_key!r}")
    return method.upper(), segments


def _is_variable(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _is_greedy(segment: str) -> bool:
    return _is_variable(segment) and segment.endswith("+}")


def _name(segment: str) -> str:
    return segment[1:-1].removesuffix("+")


def _request_segments(path: str, rules: PathRules) -> list[str]:
    if rules.trailing_slash_ignored and path != "/" and path.endswith("/"):
        path = path[:-1]
    # "/a/" is ["a", ""] (and "/" is [""]): the empty last segment is what the rules decide about.
    return path.split("/")[1:]


def match_path(segments: list[str], request: list[str], rules: PathRules) -> dict[str, str] | None:
    """The path parameters if the route's segments match the request's, else None."""
    parameters: dict[str, str] = {}
    for position, segment in enumerate(segments):
        if _is_greedy(segment):
            rest = request[position:]
            empty = rest in ([], [""])
            if not rest or (empty and not rules.greedy_matches_empty):
                return None
            parameters[_name(segment)] = "/".join(rest)
            return parameters
        if position >= len(request):
            return None
        value = request[position]
        if _is_variable(segment):
            if value == "" and not rules.variable_matches_empty:
                return None
            parameters[_name(segment)] = value
        elif value != segment:
            return None
    return parameters if len(request) == len(segments) else None


def _specificity(method: str, segments: list[str]) -> tuple[int, int, tuple[int, ...], int]:
    """Smaller is more specific: full match before greedy, a longer prefix before a greedy rest,
    a static segment before a variable (left to right), a method before ANY."""
    greedy = bool(segments) and _is_greedy(segments[-1])
    prefix = segments[:-1] if greedy else segments
    kinds = tuple(1 if _is_variable(segment) else 0 for segment in prefix)
    return (1 if greedy else 0, -len(prefix), kinds, 1 if method == ANY else 0)


def select_route(
    route_keys: Iterable[str], method: str, path: str, rules: PathRules = DEFAULT_RULES
) -> RouteMatch | None:
    """The route API Gateway selects for `method path` among `route_keys`, or None (its 404)."""
    method = method.upper()
    request = _request_segments(path, rules)
    candidates: list[tuple[tuple[int, int, tuple[int, ...], int], str, dict[str, str]]] = []
    has_default = False
    for route_key in route_keys:
        route_method, segments = parse_route_key(route_key)
        if route_key == DEFAULT_ROUTE:
            has_default = True
            continue
        if route_method not in (method, ANY):
            continue
        parameters = match_path(segments, request, rules)
        if parameters is not None:
            candidates.append((_specificity(route_method, segments), route_key, parameters))
    if candidates:
        _, route_key, parameters = min(candidates, key=lambda candidate: candidate[0])
        return RouteMatch(route_key, parameters)
    return RouteMatch(DEFAULT_ROUTE, {}) if has_default else None


def select_target(
    targets: Mapping[str, str], method: str, path: str, rules: PathRules = DEFAULT_RULES
) -> tuple[str, RouteMatch] | None:
    """(target, match) for a request, given route key -> target (a function's logical id)."""
    found = select_route(targets, method, path, rules)
    return (targets[found.route_key], found) if found is not None else None
