"""A webhook receiver for the tests, built on the `standardwebhooks` package from PyPI (the
specification authors' library, which none of us wrote): every delivery's signature is checked
with it, as a customer's server would check it.

    python3 receiver.py <secret file> [failures]

The secret is read from the file at each delivery (so a test can start the receiver, make an
endpoint at its address, then give it the endpoint's secret). Listens on a free port of
127.0.0.1 and prints it on the first line of stdout. Each POST is
verified; the first `failures` verified deliveries are answered 500 (so retries can be seen),
the rest 200; a delivery that does not verify is answered 400. `GET /deliveries` answers every
POST so far as JSON: its webhook-id, the event type, whether it verified, and the status given.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET_FILE = sys.argv[1]
FAILURES = int(sys.argv[2]) if len(sys.argv) > 2 else 0
seen = []
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            with open(SECRET_FILE) as f:
                secret = f.read().strip()
            event = Webhook(secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            event, verified = {}, False
        with lock:
            answered = sum(1 for d in seen if d["verified"])
            status = 400 if not verified else (500 if answered < FAILURES else 200)
            seen.append(
                {
                    "id": headers.get("webhook-id"),
                    "type": event.get("type"),
                    "data": event.get("data"),
                    "verified": verified,
                    "status": status,
                }
            )
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
