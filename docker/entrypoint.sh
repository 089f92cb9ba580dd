#!/bin/sh
# First run: put an editable config into /data and write the registration the homeserver needs.
# Later runs: start the bridge. Settings can also come from INTEROP_BRIDGE__* variables.
set -eu
CONFIG=/data/config.yaml
REGISTRATION=/data/registration.yaml

if [ "${1:-}" = "sandbox" ]; then
    shift
    exec python -m bridge.sandbox "$@"
fi

if [ ! -f "$CONFIG" ]; then
    cp /opt/interop-bridge/config.example.yaml "$CONFIG"
    echo "Wrote an example config to $CONFIG: edit it (or set INTEROP_BRIDGE__* variables)."
fi
if [ ! -f "$REGISTRATION" ]; then
    python -m bridge -g -c "$CONFIG" -r "$REGISTRATION"
    echo "Wrote $REGISTRATION: register it with your homeserver, then restart this container."
    exit 0
fi
exec python -m bridge -c "$CONFIG" "$@"
