"""Counts the test cases of schemathesis runs per operation, from their NDJSON reports.

Usage: schemathesis_cases.py OPENAPI.json MIN REPORT.ndjson... [-- EXCLUDED_PATH_PREFIX...]

Prints one row per operation of the document (cases per phase, summed over the reports) and exits
1 when an operation that takes input and is not excluded got fewer than MIN cases. An operation
without parameters or body has one possible request, so it is only required to have been tested.
"""

import collections
import json
import sys

METHODS = {"get", "head", "post", "put", "patch", "delete"}
PHASES = ["examples", "coverage", "fuzzing", "stateful"]


def main() -> int:
    args = sys.argv[1:]
    excluded = []
    if "--" in args:
        excluded = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    document, minimum, *reports = args
    minimum = int(minimum)
    with open(document) as f:
        paths = json.load(f)["paths"]
    operations = {}
    for path, item in paths.items():
        if any(path.startswith(prefix) for prefix in excluded):
            continue
        for method, operation in item.items():
            if method in METHODS:
                takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
                operations[f"{method.upper()} {path}"] = takes_input
    counts = collections.defaultdict(collections.Counter)
    for report in reports:
        with open(report) as f:
            for line in f:
                finished = json.loads(line).get("ScenarioFinished")
                if not finished:
                    continue
                cases = (finished.get("recorder") or {}).get("cases", {})
                for case in cases.values():
                    value = case["value"]
                    counts[f"{value['method'].upper()} {value['path']}"][finished["phase"]] += 1
    print(f"{'operation':50} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'total':>7}")
    short = []
    for operation, takes_input in operations.items():
        row = counts.get(operation, collections.Counter())
        total = sum(row.values())
        note = "" if takes_input else "  (takes no input)"
        print(f"{operation:50} " + " ".join(f"{row[p]:>9}" for p in PHASES) + f" {total:>7}{note}")
        if total < (minimum if takes_input else 1):
            short.append(operation)
    total = sum(sum(row.values()) for row in counts.values())
    print(f"{total} cases over {len(operations)} operations")
    if short:
        print(f"too few cases: {', '.join(short)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
