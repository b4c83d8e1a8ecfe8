#!/usr/bin/env bash
# npm/pack.sh BINARY OUTDIR [PLATFORM]: builds the npm tarballs for one anonsweep binary: the
# platform package @anonsweep/cli-PLATFORM carrying BINARY, and the main package anonsweep (its
# launcher), both at the version in Cargo.toml. PLATFORM is os-cpu as Node names them (linux-x64,
# linux-arm64, darwin-x64, darwin-arm64; default: this machine's). Prints the two tarball paths,
# platform package first. The packages are staged in a temporary copy: npm/ is left untouched.
set -euo pipefail

die() { echo "npm/pack.sh: error: $*" >&2; exit 2; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then die "usage: npm/pack.sh BINARY OUTDIR [PLATFORM]"; fi
binary=$1
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  die "node and npm are needed: install Node.js 18 or later"
fi
platform=${3:-$(node -p 'process.platform + "-" + process.arch')}

if ! [ -f "$binary" ] || ! [ -x "$binary" ]; then
  die "$binary is not an executable file: pass the built anonsweep, e.g. target/release/anonsweep"
fi
if ! [ -d "$here/platforms/$platform" ]; then
  known=$(cd "$here/platforms" && printf '%s ' */ | tr -d /)
  die "no package for platform $platform: use one of $known"
fi

# The [package] version of Cargo.toml.
version=$(awk '/^\[/ { p = ($0 == "[package]") } p && /^version *=/ { gsub(/.*= *"|".*/, ""); print; exit }' "$here/../Cargo.toml")
[ -n "$version" ] || die "no version in the [package] section of $here/../Cargo.toml"

# A binary for this machine must be the version being packed (a stale build is easy to pick up).
if [ "$platform" = "$(node -p 'process.platform + "-" + process.arch')" ]; then
  got=$("$binary" --version 2>/dev/null || true)
  case "$got" in
    "anonsweep $version" | "anonsweep $version "*) ;;
    *) die "$binary --version says \"$got\", not anonsweep $version: rebuild it" ;;
  esac
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$here/anonsweep" "$stage/main"
cp -R "$here/platforms/$platform" "$stage/platform"
mkdir -p "$stage/platform/bin"
cp "$binary" "$stage/platform/bin/anonsweep"
chmod 0755 "$stage/platform/bin/anonsweep" "$stage/main/bin/anonsweep"
for d in main platform; do
  cp "$here/../LICENSE-MIT" "$here/../LICENSE-APACHE" "$stage/$d/"
done

# The version everywhere: both packages, and the main package's pins on the platform packages.
node - "$stage" "$version" <<'JS'
const fs = require("node:fs");
const [stage, version] = process.argv.slice(2);
for (const dir of ["main", "platform"]) {
  const file = `${stage}/${dir}/package.json`;
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.version = version;
  for (const name of Object.keys(pkg.optionalDependencies || {})) {
    pkg.optionalDependencies[name] = version;
  }
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
}
JS

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
for d in platform main; do
  name=$(cd "$stage/$d" && npm pack --pack-destination "$outdir" --json --loglevel=error |
    node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => console.log(JSON.parse(s)[0].filename))')
  echo "$outdir/$name"
done
