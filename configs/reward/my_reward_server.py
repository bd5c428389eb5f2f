#!/usr/bin/env python3
"""A reward server for tandem's `reward.kind: http`, on Python's standard library.

    python3 configs/reward/my_reward_server.py 8000
    # in the run's config:
    #   reward:
    #     kind: http
    #     url: http://127.0.0.1:8000/score
    # or measure it:  tandem bench reward --url http://127.0.0.1:8000/score

Protocol: tandem POSTs one group per request,
  {"query": [prompt + completion, ...], "prompts": [prompt, ...], "labels": [answer, ...]}
and reads back one finite number per query, in order:
  {"rewards": [1.0, 0.0, ...]}
A status other than 200, a wrong count or anything else is a failed scoring
(counted as invalid / error, the group is scored again later), never a 0.
tandem keeps its connections open (keep-alive): answer in HTTP/1.1.
"""
import http.server
import json
import sys


def reward(completion, answer):
    # The completion ends with the tag that closed it ("7</answer><eos>"):
    # the answer is the text before it (as in configs/reward/my_reward.py).
    return 1.0 if completion.split("</answer>")[0].strip() == answer else 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: one connection for many requests
    disable_nagle_algorithm = True  # headers and body are two writes

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rewards = [reward(q[len(p):], a)
                   for q, p, a in zip(body["query"], body["prompts"], body["labels"])]
        out = json.dumps({"rewards": rewards}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("my_reward_server on http://127.0.0.1:%d/score" % port, file=sys.stderr, flush=True)
    server.serve_forever()
