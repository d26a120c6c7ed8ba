"""Helpers for the testnet scenarios: the hosts' HTTP APIs, listeners, faults and figures.

A scenario script calls `main(run, hosts)`. Outside the testnet it brings up `hosts` hosts under a
fresh prefix, re-runs itself inside the observer namespace (10.78.0.254, on the hosts' management
network),
and tears everything down afterwards. Inside, `run(tn)` does the work and returns its figures.
Only the testnet's own addresses are ever contacted.
"""

import json
import os
import random
import statistics
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Failure(Exception):
    pass


class Testnet:
    def __init__(self, prefix=None, remote=None):
        """The local testnet `prefix`, or real machines: `remote` is a list of (API URL, token)."""
        self.prefix = prefix
        self.remote = remote
        if remote is not None:
            self.count = len(remote)
            return
        self.state = os.path.join(ROOT, "testnet", ".state", prefix)
        with open(os.path.join(self.state, "count")) as f:
            self.count = int(f.read())

    def local_only(self, what):
        if self.remote is not None:
            raise Failure(f"{what} needs the local testnet (it controls processes and links)")

    # -- API -----------------------------------------------------------------------------------

    def base(self, i):
        return self.remote[i - 1][0].rstrip("/") if self.remote is not None else f"http://10.78.0.{i}:6006"

    def token(self, i):
        if self.remote is not None:
            return self.remote[i - 1][1]
        with open(os.path.join(self.state, f"h{i}", "repo", "api.token")) as f:
            return f.read().strip()

    def api(self, i, method, path, body=None, raw=None, timeout=60, ok=True):
        """Calls host i's API; returns (status, parsed JSON or bytes)."""
        url = self.base(i) + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.token(i))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            value = payload
        if ok and not 200 <= status < 300:
            raise Failure(f"host {i}: {method} {path} -> {status} {value}")
        return status, value

    def call(self, i, method, path, body=None, raw=None, timeout=60):
        return self.api(i, method, path, body, raw, timeout)[1]

    def wait_api(self, i, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.api(i, "GET", "/v0/id", timeout=2)
                return
            except Exception:
                time.sleep(0.2)
        raise Failure(f"host {i}: the API did not come up")

    # -- Threads and the database --------------------------------------------------------------

    def create_thread(self, i, collection="notes", indexes=("n",)):
        thread = self.call(i, "POST", "/v0/threads", {})["id"]
        schema = {"type": "object", "properties": {"n": {"type": "number"}, "by": {"type": "integer"}}}
        self.call(i, "POST", f"/v0/threads/{thread}/collections",
                  {"collection": collection, "schema": schema, "indexes": list(indexes)})
        return thread

    def invite(self, i, thread, role="writer"):
        return self.call(i, "POST", f"/v0/threads/{thread}/invites", {"role": role})

    def join(self, i, invite):
        return self.call(i, "POST", "/v0/threads/join", {"invite": invite}, timeout=120)

    def create(self, i, thread, instance, collection="notes"):
        return self.call(i, "POST", f"/v0/threads/{thread}/collections/{collection}/instances",
                         raw=json.dumps(instance).encode())

    def save(self, i, thread, instance, collection="notes"):
        return self.call(i, "PUT", f"/v0/threads/{thread}/collections/{collection}/instances",
                         raw=json.dumps(instance).encode())

    def find(self, i, thread, query=None, collection="notes"):
        return self.call(i, "POST", f"/v0/threads/{thread}/collections/{collection}/find",
                         raw=json.dumps(query or {}).encode())

    def ids(self, i, thread, collection="notes"):
        return {item["_id"] for item in self.find(i, thread, collection=collection)}

    def digest(self, i, thread):
        return self.call(i, "GET", f"/v0/threads/{thread}/digest")["digest"]

    def records(self, i, thread):
        info = self.call(i, "GET", f"/v0/threads/{thread}")
        return sum(log["records"] for log in info["logs"])

    def listen(self, i, thread):
        """Starts a Server-Sent Events listener on host i; returns a Listener."""
        listener = Listener(self, i, thread)
        listener.ready.wait(30)
        if not listener.ready.is_set():
            raise Failure(f"host {i}: listener did not start")
        return listener

    # -- Faults --------------------------------------------------------------------------------

    def pid(self, i):
        with open(os.path.join(self.state, f"h{i}", "pid")) as f:
            return int(f.read())

    def kill(self, i, signal=9):
        self.local_only("stopping a host")
        os.kill(self.pid(i), signal)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(self.pid(i), 0)
                time.sleep(0.05)
            except ProcessLookupError:
                return
            # A zombie counts as gone once its exit is collected by nobody; check /proc.
            try:
                with open(f"/proc/{self.pid(i)}/stat") as f:
                    if f.read().split()[2] == "Z":
                        return
            except FileNotFoundError:
                return
        raise Failure(f"host {i}: threadsd did not exit")

    def start(self, i):
        self.local_only("starting a host")
        subprocess.run([os.path.join(ROOT, "testnet", "start"), str(i)], check=True,
                       env=dict(os.environ, TESTNET_PREFIX=self.prefix))
        self.wait_api(i)

    def link(self, i, up):
        self.local_only("cutting a link")
        subprocess.run(["ip", "-n", f"{self.prefix}-br", "link", "set", f"{self.prefix}-b{i}",
                        "up" if up else "down"], check=True)

    def wire_bytes(self):
        """Bytes sent by all hosts so far (their veth counters); None on real machines."""
        if self.remote is not None:
            return None
        total = 0
        for i in range(1, self.count + 1):
            out = subprocess.run(["ip", "-n", f"{self.prefix}-h{i}", "-s", "-j", "link", "show",
                                  f"{self.prefix}-e{i}"], check=True, capture_output=True, text=True).stdout
            total += json.loads(out)[0]["stats64"]["tx"]["bytes"]
        return total


class Listener:
    """Reads one host's change stream, recording (arrival time, change)."""

    def __init__(self, tn, i, thread):
        self.changes = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.request = urllib.request.Request(f"{tn.base(i)}/v0/threads/{thread}/listen")
        self.request.add_header("Authorization", "Bearer " + tn.token(i))
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        with urllib.request.urlopen(self.request, timeout=600) as response:
            self.ready.set()
            data = []
            for line in response:
                line = line.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    change = json.loads("\n".join(data))
                    with self.lock:
                        self.changes.append((time.time(), change))
                    data = []

    def seen(self):
        with self.lock:
            return list(self.changes)


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if condition():
                return
        except Exception as error:  # a host still restarting, say: try again
            last = error
        time.sleep(0.1)
    raise Failure(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last})" if last else ""))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def check(condition, message):
    if not condition:
        raise Failure(message)


def main(run, hosts):
    name = os.path.basename(sys.argv[0])
    remote = os.environ.get("TESTNET_HOSTS")
    if remote:
        # Real machines: TESTNET_HOSTS=http://10.0.0.1:6006@<token>,http://10.0.0.2:6006@<token>,…
        hosts_given = [tuple(item.rsplit("@", 1)) for item in remote.split(",") if item]
        if len(hosts_given) < hosts or any(len(h) != 2 for h in hosts_given):
            print(f"{name}: FAILED: TESTNET_HOSTS needs {hosts} entries of the form http://HOST:PORT@TOKEN")
            sys.exit(1)
        tn = Testnet(remote=hosts_given[:hosts])
        os.environ["TESTNET_INSIDE"] = "1"
    if os.environ.get("TESTNET_INSIDE") != "1":
        if os.geteuid() != 0:
            print(f"{name}: skipped (needs root for network namespaces)")
            sys.exit(0)
        prefix = "t" + "".join(random.choice(string.ascii_lowercase) for _ in range(4))
        env = dict(os.environ, TESTNET_PREFIX=prefix)
        up = subprocess.run([os.path.join(ROOT, "testnet", "up"), str(hosts)], env=env,
                            capture_output=True, text=True)
        if up.returncode != 0:
            subprocess.run([os.path.join(ROOT, "testnet", "down")], env=env, capture_output=True)
            print(f"{name}: FAILED to bring up {hosts} hosts: {up.stderr.strip()}")
            sys.exit(1)
        try:
            inside = subprocess.run(["ip", "netns", "exec", f"{prefix}-obs", "env", "TESTNET_INSIDE=1",
                                     sys.executable, os.path.abspath(sys.argv[0])], env=env)
            code = inside.returncode
        finally:
            if os.environ.get("TESTNET_KEEP") == "1":
                print(f"{name}: testnet {prefix} left up (TESTNET_PREFIX={prefix} testnet/down removes it)")
            else:
                subprocess.run([os.path.join(ROOT, "testnet", "down")], env=env, capture_output=True)
        if code != 0:
            print(f"{name}: host logs in testnet/.state/{prefix}.logs/")
        sys.exit(code)
    if not remote:
        tn = Testnet(os.environ["TESTNET_PREFIX"])
    for i in range(1, tn.count + 1):
        tn.wait_api(i)
    started = time.time()
    try:
        figures = run(tn)
    except Exception as error:
        print(f"{name}: FAILED: {error}")
        sys.exit(1)
    for key, value in figures.items():
        print(f"{name}: {key} = {value}")
    print(f"{name}: passed in {time.time() - started:.1f} s")
    print("FIGURES " + json.dumps({"scenario": name, **figures}))
