#!/bin/sh
# Regenerate content_pb2.py and content_pb2.pyi from content.proto.
# Needs grpcio-tools (in the test extra): pip install -e '.[test]'
# The proto path is the repository root so that the file registers in the
# process-wide descriptor pool as "bridge/content/content.proto" and cannot
# collide with another schema's "content.proto".
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
cd "$root"
"$python" -m grpc_tools.protoc \
    --proto_path=. \
    --python_out=. \
    --pyi_out=. \
    bridge/content/content.proto
echo "regenerated bridge/content/content_pb2.py and content_pb2.pyi"
