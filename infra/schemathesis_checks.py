"""Prints, and checks, which schemathesis checks a configuration file leaves on for each operation
of the document in each phase: every built-in check (max_response_time aside: it needs a limit the
contract does not set) must be on, except where the file turns one off for some operations, and
those exceptions must take effect.

A check named on the command line (`--checks all`) outranks a file's per-operation `enabled =
false`, so the run leaves `--checks` out: schemathesis enables every check by default, and this
script is what says that the exceptions hold and nothing else is off.

usage: python infra/schemathesis_checks.py CONFIG.toml OPENAPI.json
"""

import sys

import schemathesis
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import _BUILTIN_CHECK_NAMES

PHASES = ("examples", "coverage", "fuzzing", "stateful")


def main() -> int:
    config_path, document = sys.argv[1:]
    load_all_checks()
    config = SchemathesisConfig.from_path(config_path)
    schema = schemathesis.openapi.from_path(document, config=config)
    # The file's own exceptions: (check, path regex) pairs it turns off.
    declared = set()
    for operation_config in config.projects.get_default().operations.operations:
        for name in _BUILTIN_CHECK_NAMES - {"max_response_time"}:
            check = operation_config.checks.get_by_name(name=name)
            if not check.enabled:
                declared.add(name)
    problems = []
    off = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for phase in PHASES:
            checks = schema.config.checks_config_for(operation=operation, phase=phase)
            for name in sorted(_BUILTIN_CHECK_NAMES):
                if name == "max_response_time" or checks.get_by_name(name=name).enabled:
                    continue
                if name not in declared:
                    problems.append(f"{name} is off for {operation.label} ({phase}), and the file does not say so")
                off.setdefault(name, set()).add(operation.label)
    for name in sorted(declared):
        if name not in off:
            problems.append(f"the file turns {name} off for some operations, but it stays on everywhere")
    for name, labels in sorted(off.items()):
        print(f"{name} is off for {len(labels)} operations, as {config_path} says:")
        for label in sorted(labels):
            print(f"  {label}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
