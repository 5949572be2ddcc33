#!/usr/bin/env python3
"""Checks that what runs locally and what is deployed are the same thing.

- The DynamoDB table in template.yaml has exactly the definition in infra/table.json, the one
  the tests and `VP_STORE=dynamodb make dev` create, and deletion protection.
- Revocation is throttled far above key creation; every function has Errors and Throttles alarms.
- The HTTP API routes in template.yaml are exactly the cargo-lambda router table in Cargo.toml
  (the production paths `make dev` serves), each to the function of the same name; and in both,
  everything else reaches the `fallback` function (API Gateway's $default route; the local
  router's per-path methods and catch-alls).

Exits non-zero, saying what differs. Run by `make test`.
"""
import json
import pathlib
import sys
import tomllib

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

    # Template routes: {(METHOD, path): function package}
    deployed = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        package = pathlib.PurePosixPath(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                deployed[(event["Properties"]["Method"], event["Properties"]["Path"])] = package

    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
    local = {}
    for path, routes in router.items():
        if isinstance(routes, str):  # every method of this path
            local[("ANY", path)] = routes
        else:
            local.update({(r["method"], path): r["function"] for r in routes})
    if deployed.pop(("ANY", "$default"), None) != "fallback":
        failures.append("template.yaml: the $default route must go to functions/fallback")
    if local.get(("ANY", "/{*path}")) != "fallback" or local.get(("ANY", "/")) != "fallback":
        failures.append("Cargo.toml router: / and /{*path} must go to fallback")
    local = {route: function for route, function in local.items() if function != "fallback"}
    if deployed != local:
        failures.append(f"routes differ:\n  template:   {sorted(deployed.items())}\n  Cargo.toml: {sorted(local.items())}")

    for failure in failures:
        print("MISMATCH", failure)
    if not failures:
        print(f"template.yaml matches infra/table.json and the {len(local)} local routes")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
