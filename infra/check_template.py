#!/usr/bin/env python3
"""Checks that what runs locally and what is deployed are the same thing.

- The DynamoDB table in template.yaml has exactly the definition in infra/table.json, the one
  the tests and `VP_STORE=dynamodb make dev` create, and deletion protection.
- Revocation is throttled far above key creation; GitHub's reports have a throttle of their own and
  alarms on their route's 4xx and 5xx; every function has Errors and Throttles alarms.
- The credit-events pipe's role can be assumed by that pipe only (aws:SourceArn, aws:SourceAccount).
(The routes are checked against the one route table by tests/tests/api/routes.rs.)

Exits non-zero, saying what differs. Run by `make test`.
"""
import json
import pathlib
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent


def plain(node):
    """cfn-lint's node types -> plain JSON (intrinsics as {"Fn::Sub": ...}, {"Ref": ...})."""
    return json.loads(json.dumps(node, default=str))


def main() -> int:
    template, problems = decode(str(ROOT / "template.yaml"))
    if problems:
        print("template.yaml does not parse:", *problems, sep="\n  ")
        return 1
    failures = []

    table = template["Resources"]["Table"]["Properties"]
    expected = json.loads((ROOT / "infra" / "table.json").read_text())
    for prop, want in expected.items():
        got = plain(table.get(prop))
        if got != want:
            failures.append(f"Table.{prop}: template has {got}, infra/table.json has {want}")

    # Production safety that is easy to lose in an edit.
    if table.get("DeletionProtectionEnabled") is not True:
        failures.append("Table.DeletionProtectionEnabled must be true: the table holds the ledger")
    routes = template["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
    create, delete = routes["POST /api/v1/keys"], routes["DELETE /api/v1/keys/{id}"]
    if delete["ThrottlingRateLimit"] < 5 * create["ThrottlingRateLimit"]:
        failures.append("DELETE /api/v1/keys/{id} must be throttled far above key creation: revocation may not be starved")
    # GitHub's reports: a throttle of their own (at least revocation's, so junk elsewhere never
    # takes their share), route metrics, and alarms on the route's 4xx and 5xx.
    reports = routes.get("POST /api/v1/secret-scanning", {})
    if reports.get("ThrottlingRateLimit", 0) < delete["ThrottlingRateLimit"] or not reports.get("DetailedMetricsEnabled"):
        failures.append("POST /api/v1/secret-scanning needs its own throttle (at least revocation's) with DetailedMetricsEnabled")
    route_alarms = {
        plain(r["Properties"].get("MetricName"))
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and {d["Name"]: plain(d["Value"]) for d in r["Properties"].get("Dimensions") or []}
        == {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default", "Method": "POST", "Resource": "/api/v1/secret-scanning"}
    }
    for metric in ("4xx", "5xx"):
        if metric not in route_alarms:
            failures.append(f"POST /api/v1/secret-scanning has no {metric} alarm")
    # CORS admits the configured console origin and nothing else (the page the stack serves at
    # /console is same-origin and needs none).
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    if plain(cors.get("AllowOrigins")) != [{"Ref": "ConsoleOrigin"}]:
        failures.append(f"HttpApi CORS must allow exactly the ConsoleOrigin parameter, not {cors.get('AllowOrigins')}")
    if cors.get("AllowCredentials"):
        failures.append("HttpApi CORS must not allow credentials: the console sends its token as a header")
    alarms = {
        (r["Properties"].get("MetricName"), json.dumps(r["Properties"].get("Dimensions"), default=str))
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            for metric in ("Errors", "Throttles"):
                dims = json.dumps([{"Name": "FunctionName", "Value": {"Ref": name}}])
                if (metric, dims) not in alarms:
                    failures.append(f"{name} has no {metric} alarm")

    # The pipe's role is assumable by this stack's pipe alone: its trust policy names the pipe's
    # own ARN (the pipe's Name, in the pipes ARN form) and the account.
    pipe = template["Resources"]["CreditEventsPipe"]["Properties"]
    trust = template["Resources"]["CreditEventsPipeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    pipe_name = plain(pipe.get("Name"))
    want_arn = {"Fn::Sub": "arn:${AWS::Partition}:pipes:${AWS::Region}:${AWS::AccountId}:pipe/" + pipe_name.get("Fn::Sub", "?")} if isinstance(pipe_name, dict) else None
    for statement in trust:
        condition = plain(statement.get("Condition", {})).get("StringEquals", {})
        if condition.get("aws:SourceArn") != want_arn or condition.get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}:
            failures.append(
                f"CreditEventsPipeRole's trust policy must require aws:SourceArn = the pipe's ARN ({want_arn}) and aws:SourceAccount, not {condition}"
            )

    for failure in failures:
        print("MISMATCH", failure)
    if not failures:
        print("template.yaml: table as infra/table.json, deletion protection, throttles, CORS, alarms and the pipe role's trust in place")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
