#!/bin/sh
# make demo: start the stand-in game backend, run all five generators (scenarios/gaming.yaml)
# headless for 15 s with a local worker, print the summary, stop the services.
set -u
cd "$(dirname "$0")/.."
USERS=${DEMO_USERS:-20}
TIME=${DEMO_TIME:-15s}
for port in 8080 8081 8082 8083; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "make demo: port $port is already in use; stop what listens there (herd-sample-services uses 8080-8083)" >&2
        exit 1
    fi
done 2>/dev/null
log=$(mktemp)
bin/herd-sample-services >"$log" 2>&1 &
svc=$!
trap 'kill $svc 2>/dev/null; wait $svc 2>/dev/null; rm -f "$log"' EXIT INT TERM
i=0
until grep -q "ready" "$log" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $svc 2>/dev/null; then
        echo "make demo: herd-sample-services did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "== herd-sample-services: $(cat "$log")"
echo "== herd-master -f scenarios/gaming.yaml --headless -u $USERS -r $USERS -t $TIME"
# Failed requests are part of what the demo shows (concurrent buyers race for the same
# order, as they would on the real services), so they do not fail `make demo`.
bin/herd-master -f scenarios/gaming.yaml --headless -u "$USERS" -r "$USERS" -t "$TIME" --exit-code-on-error 0
rc=$?
echo "== herd-master exited with $rc"
exit $rc
