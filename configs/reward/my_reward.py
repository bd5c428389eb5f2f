#!/usr/bin/env python3
"""A reward program for tandem's `reward.kind: command` (configs/reward/command.yaml).

Protocol: tandem writes one JSON line per completion to stdin,
  {"prompt": "3+4=", "completion": "7", "answer": "7"}
and reads exactly one line back on stdout, in order:
  {"reward": 1.0}
Flush after every line (stdout is a pipe, not a terminal). Anything else on
stdout, no reply within reward.timeout_s (twice that for the first request
after a start), or an exit is a failed scoring
(counted as invalid / timeout / error; the group is scored again later);
a program that hangs or exits is killed and started again. stderr goes to
the run log, each line prefixed "[reward command #i] ".
"""
import json
import sys

print("my_reward ready", file=sys.stderr, flush=True)
for line in sys.stdin:
    req = json.loads(line)
    # The completion ends with the tag that closed it ("7</answer><eos>"):
    # the answer is the text before it.
    said = req["completion"].split("</answer>")[0].strip()
    reward = 1.0 if said == req["answer"] else 0.0
    print(json.dumps({"reward": reward}), flush=True)
