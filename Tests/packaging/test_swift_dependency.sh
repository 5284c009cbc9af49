#!/usr/bin/env bash
# test_swift_dependency.sh — can a Swift app depend on RTX by git URL? The
# package's C target uses unsafeFlags (-fopenmp, -O3), which SwiftPM refuses in
# dependencies pinned to versions but accepts for branch, revision and path ones.
# This builds swift-app/ against a snapshot of HEAD with each kind:
#   url + branch:    must build, and generate what the in-repo Python bindings generate
#   url + revision:  the same
#   path:            the same (a local checkout of the snapshot)
#   url + from:      must be refused with SwiftPM's "contains unsafe build flags" error
#   url + exact:     the same refusal
#   Tests/packaging/test_swift_dependency.sh [model.gguf]
# The snapshot holds committed state only; uncommitted changes are not tested.
# Needs build/lib/librtx.so (`make lib`) for the Python reference.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
model=$(realpath "${1:-$repo/.models/SmolLM2-135M-Instruct.Q4_1.gguf}")
python=${PYTHON:-python3}
swift=${SWIFT:-swift}
started=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

BRANCH=rtx-dependency-test
TAG=1.0.0
# SwiftPM 6.3 resolves a version-pinned RTX, then refuses to plan the build with
# "error: '<root package identity>': " and this.
UNSAFE_FLAGS_ERROR="the target 'CRTXKernels' in product 'RTXEngine' contains unsafe build flags"

step() { echo "== $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# A bare repo holding HEAD as branch $BRANCH and tag $TAG; works on a detached
# HEAD too (CI checks out a commit).
snapshot_head() {
    git init -q --bare "$work/rtx.git"
    git -C "$work/rtx.git" fetch -q "$repo" "+HEAD:refs/heads/$BRANCH"
    git -C "$work/rtx.git" symbolic-ref HEAD "refs/heads/$BRANCH"
    git -C "$work/rtx.git" tag "$TAG" "$BRANCH"
    git -C "$work/rtx.git" rev-parse "$BRANCH"
}

# Write the app's manifest with one dependency, e.g. `.package(path: "/x")`.
use_dependency() {
    sed "s|@DEPENDENCY@|$1|" "$repo/Tests/packaging/swift-app/Package.swift.in" > "$work/app/Package.swift"
}

build_app() { (cd "$work/app" && "$swift" build "$@"); }

expect_builds_and_generates() {
    local dependency=$1
    step "$dependency: build and run"
    use_dependency "$dependency"
    build_app > "$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; fail "$dependency: build failed"; }
    local text
    text=$("$work/app/.build/debug/rtx-dependency-app" "$model" "$prompt" "$max_tokens")
    [ -n "$text" ] || fail "$dependency: the app generated no text"
    [ "$text" = "$expected" ] || fail "$dependency: app generated $(printf %q "$text"), librtx via Python $(printf %q "$expected")"
    echo "generated $(printf %q "$text"), as the in-repo bindings do"
}

expect_refused() {
    local dependency=$1
    step "$dependency: must be refused for unsafe flags"
    use_dependency "$dependency"
    if build_app > "$work/build.log" 2>&1; then
        fail "$dependency: SwiftPM built a version-pinned dependency with unsafeFlags; update the README's Swift quick start"
    fi
    grep -F "$UNSAFE_FLAGS_ERROR" "$work/build.log" || { cat "$work/build.log" >&2; fail "$dependency: refused for another reason"; }
}

step "reference continuation from the in-repo Python bindings"
(cd "$repo" && PYTHONPATH=bindings/python RTX_LIBRARY="$repo/build/lib/librtx.so" \
    "$python" Tests/packaging/greedy_probe.py "$model") > "$work/reference.json"
field() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$work/reference.json" "$1"; }
prompt=$(field prompt)
max_tokens=$(field max_tokens)
expected=$(field text)

step "snapshot of HEAD in $work/rtx.git"
revision=$(snapshot_head)
cp -R "$repo/Tests/packaging/swift-app" "$work/app"

url="file://$work/rtx.git"
expect_builds_and_generates ".package(url: \"$url\", branch: \"$BRANCH\")"
expect_builds_and_generates ".package(url: \"$url\", revision: \"$revision\")"
git clone -q "$work/rtx.git" "$work/rtx"
expect_builds_and_generates ".package(path: \"$work/rtx\")"
expect_refused ".package(url: \"$url\", from: \"$TAG\")"
expect_refused ".package(url: \"$url\", exact: \"$TAG\")"
echo "== swift dependency test passed in $((SECONDS - started)) s"
