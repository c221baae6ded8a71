#!/bin/sh
# make valgrind: a short distributed run (sample services, a master expecting one worker, the
# worker, over CurveZMQ) with the master and the worker under valgrind's memcheck. Fails on an invalid
# access, a use of uninitialised memory or a definite leak in either; prints valgrind's
# summaries. Everything on loopback, free ports, about a minute.
set -u
BIN=${HERD_BIN:-bin}
OUT=$(mktemp -d /tmp/herd-valgrind-XXXXXX)
SVC_PID=; W_PID=
cleanup() {
    [ -n "$W_PID" ] && kill -9 "$W_PID" 2>/dev/null
    [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$OUT"
}
trap cleanup EXIT INT TERM
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/herd-sample-services" --profile-port 0 --matchmaking-port 0 --item-port 0 \
    --tradepost-port 0 --threads 2 > "$OUT/svc.out" 2>&1 &
SVC_PID=$!
for _ in $(seq 50); do grep -q ready "$OUT/svc.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.*profile=\([0-9]*\).*/\1/p' "$OUT/svc.out")
[ -n "$PORT" ] || { echo "valgrind: the sample services did not start"; cat "$OUT/svc.out"; exit 1; }
cat > "$OUT/s.yaml" <<YAML
host: http://127.0.0.1:$PORT
setup:
  - get: /players
    save: {players: \$}
users:
  - name: Reader
    tasks:
      - steps:
          - get: "/players/{{ pick(players) }}"
            name: /players/[id]
          - post: /players
            json: {player_name: "{{ random_string(16) }}", email: "{{ random_string(16) }}@example.com", password: "p"}
YAML
MPORT=$(free_port)
# The secured channel: CurveZMQ with czmq's zauth, the longer path.
"$BIN/herd-master" --gen-keys "$OUT/m" > /dev/null && "$BIN/herd-worker" --gen-keys "$OUT/w" > /dev/null \
    && mkdir "$OUT/auth" && cp "$OUT/w/worker.pub" "$OUT/auth/" || exit 1
VG="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --track-origins=yes --num-callers=30"
$VG --log-file="$OUT/vg-worker.txt" "$BIN/herd-worker" --master-port "$MPORT" --threads 1 \
    --master-timeout 60 --curve-key "$OUT/w/worker.key" --curve-master "$OUT/m/master.pub" \
    > "$OUT/worker.out" 2>&1 &
W_PID=$!
$VG --log-file="$OUT/vg-master.txt" "$BIN/herd-master" -f "$OUT/s.yaml" --headless -u 5 -r 5 \
    -t 5s -s 5 --expect-workers 1 --expect-workers-max-wait 60s --master-bind-host 127.0.0.1 \
    --master-bind-port "$MPORT" --curve-key "$OUT/m/master.key" --curve-authorized "$OUT/auth" \
    --only-summary > "$OUT/master.out" 2> "$OUT/master.err"
M_RC=$?
wait "$W_PID"; W_RC=$?; W_PID=
rc=0
for who in master worker; do
    echo "== valgrind, herd-$who:"
    grep -E "ERROR SUMMARY|definitely lost|in use at exit" "$OUT/vg-$who.txt" | sed 's/^==[0-9]*== /   /'
done
grep -q "Aggregated" "$OUT/master.out" || { echo "valgrind: the master printed no summary"; rc=1; }
grep -q "secured with CurveZMQ" "$OUT/master.err" || { echo "valgrind: the channel was not secured"; rc=1; }
if [ "$M_RC" = 99 ] || [ "$W_RC" = 99 ] || [ "$M_RC" != 0 ] || [ "$W_RC" != 0 ]; then
    echo "valgrind: the master exited $M_RC, the worker $W_RC (99: valgrind found errors)"
    for who in master worker; do
        grep -q "ERROR SUMMARY: 0 errors" "$OUT/vg-$who.txt" || cat "$OUT/vg-$who.txt"
    done
    cat "$OUT/master.err" "$OUT/worker.out"
    rc=1
fi
[ $rc = 0 ] && echo "valgrind: no invalid access, no definite leak in herd-master and herd-worker"
exit $rc
