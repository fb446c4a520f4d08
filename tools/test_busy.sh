#!/usr/bin/env bash
# Run a command with two CPU-bound processes alongside (a shared, noisy machine), then stop them.
# Usage: tools/test_busy.sh [command ...]   (default: make test). Exits with the command's status.
# DESIGN.md: a test passes 3 of 3 on a quiet machine and 3 of 3 with two CPU-bound processes running alongside.
set -u
PY=${PYTHON:-python3}
pids=()
stop_load() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for _ in 1 2; do
    "$PY" -c "while True: pass" &
    pids+=("$!")
done
echo "test_busy: CPU-bound load running as pids ${pids[*]}" >&2
if [ "$#" -eq 0 ]; then set -- make test; fi
"$@"
status=$?
echo "test_busy: '$*' exited with $status" >&2
exit "$status"
