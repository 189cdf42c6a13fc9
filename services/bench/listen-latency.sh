#!/bin/bash
# `hookmetry listen` end to end on 127.0.0.1: 200 captures sent with curl-like POSTs 20 ms apart,
# timed from the sender to a local Python server the listener forwards to; then 20 `trigger` calls
# (each waits for the verdict). Bounded, 127.0.0.1 only, stops what it started.
# Usage: services/bench/listen-latency.sh  (BIN=target/debug/hookmetry for a debug build)
set -euo pipefail
BIN=${BIN:-target/release/hookmetry}
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
cd "$WORK"
export HOOKMETRY_PROFILES="$WORK/profiles.toml"
$BIN serve --listen 127.0.0.1:18181 > serve.log 2>&1 & SERVE=$!
sleep 2
$BIN login --url http://127.0.0.1:18181 < /dev/null > /dev/null 2>&1
$BIN endpoint create lat > ep.txt 2>/dev/null
URL=$(grep '^url:' ep.txt | awk '{print $2}')
cat > recv.py <<'PY'
import http.server, sys, time
out = open('lat.txt', 'w')
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
        sent = self.headers.get("x-sent-at")
        if sent is None:
            self.send_response(200); self.send_header("content-length", "0"); self.end_headers(); return
        sent = float(sent)
        out.write(f"{(time.time() - sent) * 1000:.2f}\n"); out.flush()
        self.send_response(200); self.send_header('content-length', '0'); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', 18182), H).serve_forever()
PY
python3 recv.py & RECV=$!
$BIN listen lat --forward-to 18182 --name lat > listen.out 2> listen.err & LISTEN=$!
sleep 2
python3 - "$URL" <<'PY'
import sys, time, urllib.request
for i in range(200):
    req = urllib.request.Request(sys.argv[1] + f"/n{i}", data=b'{"type":"x"}', method='POST', headers={'x-sent-at': repr(time.time()), 'content-type': 'application/json'})
    urllib.request.urlopen(req).read()
    time.sleep(0.02)
PY
sleep 2
python3 - <<'PY'
v = sorted(float(x) for x in open('lat.txt'))
n = len(v)
print(f"listen: {n} captures, capture->local server p50 {v[n//2]:.1f} ms, p90 {v[int(n*0.9)]:.1f} ms, p99 {v[int(n*0.99)-1]:.1f} ms, max {v[-1]:.1f} ms")
PY
T0=$(date +%s%N); for i in $(seq 1 20); do $BIN trigger stripe invoice.paid --to lat > /dev/null 2>&1; done; T1=$(date +%s%N)
echo "trigger (unsigned endpoint, waits for the verdict): $(( (T1-T0)/20000000 )) ms per call over 20 calls"
kill -INT $LISTEN; sleep 1; kill $RECV $SERVE 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"
