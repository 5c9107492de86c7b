#!/usr/bin/env python3
"""Hub CPU per publish with many subscribed URI templates that cannot match (R-TEMPLATES).

Starts a fresh release hub pinned to CPU $HUB_CPU (0), subscribes --templates distinct templates
over anonymous connections (--per-request selectors each, held open), then publishes --publishes
events one after the other, each to a new topic (so the match cache never helps), over one
keep-alive connection, and prints the hub's CPU time per publish (utime + stime from /proc) and
the sequential publish rate, as one JSON line.

    cargo build --release --bin quicksilver
    python3 bench/templates.py --kind none
    python3 bench/templates.py --kind attacker     # https://attacker.example/{k}/{j}/{xN}
    python3 bench/templates.py --kind users        # https://example.com/users/{id}/uN/{x}
    python3 bench/templates.py --kind users --topic 'https://example.com/users/7/nobody/{n}'

HUB_BIN chooses another binary, TRANSPORT (memory) and DURABILITY (fsync) the history.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

KEY = "bench-secret-0123456789abcdef0123"
TEMPLATES = {
    "none": None,
    "attacker": "https://attacker.example/{{k}}/{{j}}/{{x{n}}}",
    "users": "https://example.com/users/{{id}}/u{n}/{{x}}",
}


def token():
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"mercure": {"publish": ["*"]}}).encode())
    signature = hmac.new(KEY.encode(), head + b"." + body, hashlib.sha256).digest()
    return (head + b"." + body + b"." + b64(signature)).decode()


def cpu_us(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_hub(port, data):
    binary = os.path.realpath(os.environ.get("HUB_BIN", "target/release/quicksilver"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUICKSILVER_")}
    env.update(
        QUICKSILVER_PUBLISHER_JWT_KEY=KEY,
        QUICKSILVER_ANONYMOUS="true",
        QUICKSILVER_DATA_DIR=os.path.join(data, "data"),
        QUICKSILVER_TRANSPORT=os.environ.get("TRANSPORT", "memory"),
        QUICKSILVER_DURABILITY=os.environ.get("DURABILITY", "fsync"),
    )
    log = open(os.path.join(data, "hub.log"), "w")
    hub = subprocess.Popen(
        ["taskset", "-c", os.environ.get("HUB_CPU", "0"), binary, "serve",
         "--listen", f"127.0.0.1:{port}"],
        cwd=data, env=env, stdout=log, stderr=log)
    for _ in range(400):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return hub
        except OSError:
            pass
        time.sleep(0.05)
    hub.kill()
    raise SystemExit("the hub did not become healthy")


def subscribe(port, selectors):
    """Opens one anonymous subscription and returns its socket once the head is read."""
    query = "&".join("topic=" + urllib.parse.quote(s, safe="") for s in selectors)
    stream = socket.create_connection(("127.0.0.1", port))
    stream.sendall(f"GET /.well-known/mercure?{query} HTTP/1.1\r\nHost: hub\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = stream.recv(4096)
        if not chunk:
            raise SystemExit("a subscription was refused")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit("a subscription was refused: " + head.split(b"\r\n")[0].decode())
    return stream


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=TEMPLATES, default="attacker")
    parser.add_argument("--templates", type=int, default=5000)
    parser.add_argument("--per-request", type=int, default=250)
    parser.add_argument("--publishes", type=int, default=5000)
    parser.add_argument("--topic", default="https://example.com/books/{n}")
    options = parser.parse_args()

    port = free_port()
    data = tempfile.mkdtemp(prefix="qs-templates.")
    hub = start_hub(port, data)
    streams = []
    try:
        template = TEMPLATES[options.kind]
        count = options.templates if template else 0
        for first in range(0, count, options.per_request):
            last = min(first + options.per_request, count)
            streams.append(subscribe(port, [template.format(n=n) for n in range(first, last)]))
        time.sleep(1)
        publisher = http.client.HTTPConnection("127.0.0.1", port)
        headers = {
            "Authorization": "Bearer " + token(),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        before, started = cpu_us(hub.pid), time.monotonic()
        for n in range(options.publishes):
            topic = options.topic.replace("{n}", f"{n}-{port}")
            body = urllib.parse.urlencode({"topic": topic, "data": "x" * 100})
            publisher.request("POST", "/.well-known/mercure", body, headers)
            response = publisher.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"publish answered {response.status}")
        elapsed, after = time.monotonic() - started, cpu_us(hub.pid)
        print(json.dumps({
            "kind": options.kind,
            "templates": count,
            "topic": options.topic,
            "transport": os.environ.get("TRANSPORT", "memory"),
            "publishes": options.publishes,
            "publishes_per_s": round(options.publishes / elapsed),
            "hub_cpu_us_per_publish": round((after - before) / options.publishes, 1),
        }))
    finally:
        for stream in streams:
            stream.close()
        hub.terminate()
        hub.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
