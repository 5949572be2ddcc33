#!/usr/bin/env python3
"""A local DynamoDB-protocol server: moto's DynamoDB, one request at a time.

Used by `make test` (infra/with-moto.sh) and `VP_STORE=dynamodb make dev`.

Why not plain `moto_server`: its DynamoDB backend is not thread-safe. A conditional update
checks its condition and then writes without a lock, and a cancelled transaction restores a
snapshot of the whole table, undoing writes that other requests made meanwhile (seen here as
"dictionary changed size during iteration" 500s under racing requests). Real DynamoDB applies
writes to an item one at a time; handling one request at a time gives the tests that same
guarantee, so a race the tests find is a race in our code, not in the emulator.

Streams: moto cancels a transaction by putting back a deep copy of each table taken before it,
stream included. Open shard iterators still point at the replaced shard (which also holds the
records of the writes the transaction undid), so a follower would see writes that never
happened and then nothing more. Real DynamoDB writes nothing to the stream for a cancelled
transaction; `keep_streams_across_rollbacks` restores exactly that.
"""
import argparse
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def keep_streams_across_rollbacks() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        live = {name: table.stream_shard for name, table in self.tables.items() if table.stream_shard}
        lengths = {name: len(shard.items) for name, shard in live.items()}
        try:
            return original(self, transact_items)
        except Exception:
            for name, shard in live.items():
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    del shard.items[lengths[name]:]  # the undone writes' records
                    shard.table = table
                    table.stream_shard = shard
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()

    keep_streams_across_rollbacks()
    moto = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Consume the whole response inside the lock: the work happens while iterating.
            return [b"".join(moto(environ, start_response))]

    run_simple(args.host, args.port, one_at_a_time, threaded=True)


if __name__ == "__main__":
    main()
