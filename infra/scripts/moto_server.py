"""moto's server with DynamoDB writes made atomic, as DynamoDB's are.

moto serves each request on its own thread and checks a write's condition and applies it without
a lock, so two conditional writes racing on one item can both succeed; real DynamoDB applies
each write to an item atomically, and Gavel's job store relies on that (one finish wins).
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

# Batch writes go through put_item and delete_item.
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# Reentrant: a transaction's parts are themselves writes.
LOCK = threading.RLock()


def atomic(write):
    @functools.wraps(write)
    def locked(*args, **kwargs):
        with LOCK:
            return write(*args, **kwargs)

    return locked


for name in WRITES:
    setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
