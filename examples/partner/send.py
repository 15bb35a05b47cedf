#!/usr/bin/env python3
"""A partner backend's signer and sender (CONTRACT §2), Python 3.8+, standard library only.

    python3 send.py <command> <json-file-or-inline> [<command> <arg> ...]

Commands: unicast, listcast, customizedcast, groupcast, broadcast (POST /psp/push/msg, the
command is the body's `type`), config (POST /psp/push/config, the JSON names its own `type`),
status <task_id | last> (GET /psp/push/status; `last` is the task of the previous command).
Environment: BASE (default http://127.0.0.1:8787), APPKEY, SECRET (the app_master_secret).
Prints one JSON line per call, {"command": ..., "ret": ..., "data": ...}; exits 1 if any failed.
"""
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PUSH_TYPES = ["unicast", "listcast", "customizedcast", "groupcast", "broadcast"]
_last_timestamp = 0


def psp(method, path, body=""):
    """One signed partner call: sign = md5(METHOD + url + timestamp + body + secret), `url` with
    its query string exactly as sent, `sign` appended last. A sign is good once, so no two calls
    share a timestamp."""
    global _last_timestamp
    _last_timestamp = max(int(time.time() * 1000), _last_timestamp + 1)
    timestamp = str(_last_timestamp)
    url = os.environ.get("BASE", "http://127.0.0.1:8787") + path
    text = method.upper() + url + timestamp + body + os.environ["SECRET"]
    sign = hashlib.md5(text.encode("utf-8")).hexdigest()
    request = urllib.request.Request(
        url + ("&" if "?" in path else "?") + "sign=" + sign,
        data=body.encode("utf-8") if body else None,
        method=method,
        headers={"X-Appkey": os.environ["APPKEY"], "X-Timestamp": timestamp,
                 "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:  # 4xx / 5xx answers carry the envelope too
        raw, status = error.read(), error.code
    try:
        return json.loads(raw)
    except ValueError:
        return {"ret": "FAIL", "data": {"http_status": status, "text": raw.decode("utf-8", "replace")}}


def read_json(arg):
    """An argument is inline JSON when it starts with `{`, else the name of a JSON file."""
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg, encoding="utf-8") as f:
        return json.load(f)


def request_for(command, arg, last_task_id):
    """The call a command makes: method, path and body."""
    if command in PUSH_TYPES:
        body = dict(read_json(arg), type=command)
        return "POST", "/psp/push/msg", json.dumps(body, ensure_ascii=False)
    if command == "config":
        body = read_json(arg)
        if body.get("type") not in PUSH_TYPES:
            raise SystemExit('config: "type" must be one of ' + ", ".join(PUSH_TYPES))
        return "POST", "/psp/push/config", json.dumps(body, ensure_ascii=False)
    if command == "status":
        task_id = last_task_id if arg == "last" else arg
        if not task_id:
            raise SystemExit("status: no task id (and no previous push)")
        return "GET", "/psp/push/status?task_id=" + urllib.parse.quote(task_id, safe=""), ""
    raise SystemExit("unknown command %s: use %s, config or status" % (command, ", ".join(PUSH_TYPES)))


def main(args):
    if not args or len(args) % 2:
        sys.exit("usage: python3 send.py <command> <json-file-or-inline | task_id> [<command> <arg> ...]")
    last_task_id, ok = None, True
    for command, arg in zip(args[0::2], args[1::2]):
        method, path, body = request_for(command, arg, last_task_id)
        answer = psp(method, path, body)
        ok = ok and answer.get("ret") == "SUCCESS"
        last_task_id = (answer.get("data") or {}).get("task_id") or last_task_id
        print(json.dumps(dict(command=command, **answer), ensure_ascii=False, separators=(",", ":")), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
