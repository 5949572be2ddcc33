#!/usr/bin/env python3
"""Checks that what runs locally and what is deployed are the same thing.

- The DynamoDB table in template.yaml has exactly the definition in infra/table.json, the one
  the tests and `VP_STORE=dynamodb make dev` create, and deletion protection.
- Revocation is throttled far above key creation; every function has Errors and Throttles alarms.
(The routes are checked against the one route table by tests/tests/api/routes.rs.)

Exits non-zero, saying what differs. Run by `make test`.
"""
import json
import pathlib
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    template, problems = decode(str(ROOT / "template.yaml"))
    if problems:
        print("template.yaml does not parse:", *problems, sep="\n  ")
        return 1
    failures = []

    table = template["Resources"]["Table"]["Properties"]
    expected = json.loads((ROOT / "infra" / "table.json").read_text())
    for prop, want in expected.items():
        got = json.loads(json.dumps(table.get(prop)))  # cfn-lint's node types -> plain JSON
        if got != want:
            failures.append(f"Table.{prop}: template has {got}, infra/table.json has {want}")

    # Production safety that is easy to lose in an edit.
    if table.get("DeletionProtectionEnabled") is not True:
        failures.append("Table.DeletionProtectionEnabled must be true: the table holds the ledger")
    routes = template["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
    create, delete = routes["POST /api/v1/keys"], routes["DELETE /api/v1/keys/{id}"]
    if delete["ThrottlingRateLimit"] < 5 * create["ThrottlingRateLimit"]:
        failures.append("DELETE /api/v1/keys/{id} must be throttled far above key creation: revocation may not be starved")
    # CORS admits the configured console origin and nothing else (the page the stack serves at
    # /console is same-origin and needs none).
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    if json.loads(json.dumps(cors.get("AllowOrigins"), default=str)) != [{"Ref": "ConsoleOrigin"}]:
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

    for failure in failures:
        print("MISMATCH", failure)
    if not failures:
        print("template.yaml: table as infra/table.json, deletion protection, throttles, CORS and alarms in place")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
