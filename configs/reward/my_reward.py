#!/usr/bin/env python3
"""A reward program for tandem's `reward.kind: command` (configs/reward/command.yaml).

Protocol: tandem writes one JSON line per completion to stdin,
  {"prompt": "3+4=", "completion": "7</answer><eos>", "answer": "7"}
and reads exactly one line back on stdout per request, in order:
  {"reward": 1.0}
It sends a group's lines without waiting for the replies. Flush once you
have answered what you read (stdout is a pipe, not a terminal). Anything
else on stdout, a reply later than reward.timeout_s after the one before it
(twice that for the first request after a start), or an exit is a failed
scoring (counted as invalid / timeout / error; the group is scored again
later); a program that hangs or exits is killed and started again. stderr
goes to the run log, each line prefixed "[reward command #i] ".

Change reward(); the loop below answers every line that has arrived in one
write, which halves the CPU a completion costs against a flush per line
(`tandem bench reward`).
"""
import json
import os
import sys


def reward(req):
    # The completion ends with the tag that closed it ("7</answer><eos>"):
    # the answer is the text before it.
    said = req["completion"].split("</answer>")[0].strip()
    return 1.0 if said == req["answer"] else 0.0


print("my_reward ready", file=sys.stderr, flush=True)
pending = b""
while True:
    chunk = os.read(0, 1 << 16)  # what has arrived, up to 64 KiB
    if not chunk:
        break  # tandem closed stdin
    *lines, pending = (pending + chunk).split(b"\n")
    if lines:
        sys.stdout.write("".join(json.dumps({"reward": reward(json.loads(line))}) + "\n"
                                 for line in lines))
        sys.stdout.flush()
