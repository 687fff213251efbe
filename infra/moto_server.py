"""A local AWS emulator (moto) for the tests and for running the real functions locally.

Same application as `moto_server`, with one difference: requests are handled one at a time.
moto does not lock its backends, so two concurrent conditional writes could both pass their
condition; serving requests in turn gives DynamoDB's per-item atomicity, which the exactly-once
and counter tests rely on.

One more: a transaction backs up only the items it names. moto backs up the whole table for
each item of a transaction (a deep copy, to roll a failed one back), so on a table of thousands
of enrollments every enrollment write took longer than the last; the items a transaction names
are all it can change, so restoring them is the same rollback.

Usage: python infra/moto_server.py PORT
"""

import copy
import sys
import threading
import types

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def item_backups_for_transactions() -> None:
    """Makes moto's transaction rollback back up the named items instead of whole tables."""
    try:
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table
    except ImportError as error:  # another moto layout: keep its own rollback
        print(f"moto_server: whole-table transaction backups ({error})", file=sys.stderr)
        return

    def deepcopy(value, memo=None):
        # The rollback's table backup: the table itself (its items are restored below).
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    shim = types.SimpleNamespace(**{k: getattr(copy, k) for k in dir(copy) if not k.startswith("__")})
    shim.deepcopy = deepcopy
    models.copy = shim
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            if table is None or table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = (
                DynamoType(key[table.range_key_attr])
                if table.range_key_attr and table.range_key_attr in key
                else None
            )
            if table.range_key_attr and range_key is None:
                continue
            current = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(saved):
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    port = int(sys.argv[1])
    item_backups_for_transactions()
    inner = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            return list(inner(environ, start_response))

    run_simple(
        "127.0.0.1",
        port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
