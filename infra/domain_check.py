"""The domain crate does no I/O and knows no adapter.

ritmo-core's dependencies hold no AWS, Lambda, HTTP or OpenAPI crate, and its non-test code
(everything outside the items marked `#[cfg(test)]`) reads no file, spawns no task and opens or
resolves no network address. The adapters that do are in ritmo-memory, ritmo-whatsapp and
ritmo-aws. `python3 infra/domain_check.py [CRATE_DIR]` (default shared/core) exits 1 naming each
offence.
"""

import pathlib
import re
import subprocess
import sys

FORBIDDEN_CRATES = re.compile(r"^(aws-|aws_|lambda|axum|hyper|reqwest|tower|utoipa)", re.I)
# File system, spawned runtimes, sockets, name look-ups and processes (std::net's address types
# are values, not I/O, and stay allowed).
FORBIDDEN_CODE = re.compile(
    r"std::fs\b|tokio::fs\b|tokio::spawn\b|std::thread::spawn\b|tokio::net\b"
    r"|std::net::(TcpStream|TcpListener|UdpSocket|ToSocketAddrs)|to_socket_addrs|lookup_host"
    r"|std::process::Command"
)
CFG_TEST = re.compile(r"^\s*#\[cfg\(test\)\]")


def without_tests(lines):
    """(line number, line) outside the items marked #[cfg(test)] (braces counted; a marked
    item without a body, such as `mod tests;`, ends at its semicolon)."""
    kept, depth, skipping, opened = [], 0, False, False
    for number, line in enumerate(lines, 1):
        code = line.split("//", 1)[0]
        if not skipping and CFG_TEST.match(line):
            skipping, depth, opened = True, 0, False
            continue
        if skipping:
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if (opened and depth <= 0) or (not opened and code.rstrip().endswith(";")):
                skipping = False
            continue
        kept.append((number, code))
    return kept


def main():
    crate = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "shared/core")
    offences = []
    tree = subprocess.run(
        ["cargo", "tree", "--manifest-path", str(crate / "Cargo.toml"), "-e", "normal",
         "--prefix", "none"],
        check=True, capture_output=True, text=True,
    ).stdout
    offences += sorted({f"depends on {line}" for line in tree.splitlines()
                        if FORBIDDEN_CRATES.match(line)})
    for path in sorted((crate / "src").rglob("*.rs")):
        for number, code in without_tests(path.read_text().splitlines()):
            if FORBIDDEN_CODE.search(code):
                offences.append(f"{path}:{number}: {code.strip()}")
    if offences:
        print("the domain crate does I/O or depends on an adapter crate:")
        print("\n".join(f"  {o}" for o in offences))
        sys.exit(1)
    print(f"{crate}: no adapter crate; no file, task, socket or name look-up outside tests")


if __name__ == "__main__":
    main()
