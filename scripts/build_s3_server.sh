#!/usr/bin/env bash
# issue 17: the S3-compatible object store the test suites run against:
# SeaweedFS (Apache-2.0), its source taken from the Go module proxy and built
# with the machine's Go toolchain (no prebuilt binary is downloaded).
#   scripts/build_s3_server.sh VERSION OUTPUT
# `go install module@version` refuses a module whose go.mod has replace
# directives (SeaweedFS has one), so the module is downloaded and built as
# the main module from a copy of its source. Prints how long it took.
set -euo pipefail
version=$1
out=$(realpath -m "$2")
command -v go >/dev/null || { echo "build_s3_server: no Go toolchain (go) on PATH" >&2; exit 1; }
t0=$(date +%s)
dir=$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -d "$dir" ] || { echo "build_s3_server: cannot download seaweedfs $version" >&2; exit 1; }
src=$(dirname "$out")/src
rm -rf "$src"
mkdir -p "$src"
cp -r "$dir/." "$src/"
chmod -R u+w "$src"
(cd "$src" && go build -o "$out.tmp" ./weed)
mv "$out.tmp" "$out"
rm -rf "$src"
echo "build_s3_server: seaweedfs $version built in $(( $(date +%s) - t0 ))s: $out"
