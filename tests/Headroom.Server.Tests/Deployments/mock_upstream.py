#!/usr/bin/env python3
"""A tiny OpenAI-compatible server run as a deployment replica in tests: python3 mock_upstream.py PORT MODEL.

GET /v1/models lists MODEL; POST /v1/chat/completions answers "replica <HEADROOM_JOB_ID>" with usage. A user message
"sleep:S" makes the answer wait S seconds (to hold calls in flight). Stdlib only."""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODEL = int(sys.argv[1]), sys.argv[2]
NAME = os.environ.get("HEADROOM_JOB_ID", "replica")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "mock"}]})
        else:
            self.reply(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions" or body.get("model") != MODEL:
            self.reply(404, {"error": {"message": "unknown route or model", "type": "invalid_request_error"}})
            return
        last = (body.get("messages") or [{}])[-1].get("content") or ""
        if isinstance(last, str) and last.startswith("sleep:"):
            time.sleep(float(last[6:]))
        self.reply(200, {
            "id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "replica " + NAME}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        })


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
