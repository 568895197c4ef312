#!/usr/bin/env bash
# Regenerates the TypeScript of the wire schemas: schemas/*.fbs -> src/feed/generated/ (or OUT_DIR if given).
# Idempotent: the output depends only on the schemas and the flatc version, so running it twice changes nothing.
# Needs flatc 2.0.8 (Debian: apt-get install -y flatbuffers-compiler); the output is committed, so a build does not.
#
#   bash scripts/gen-schemas.sh            # rewrite src/feed/generated/
#   bash scripts/gen-schemas.sh OUT_DIR    # write elsewhere (test/feed-generated.test.ts compares the two)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/src/feed/generated}"
EXPECTED_FLATC="flatc version 2.0.8"

command -v flatc >/dev/null || { echo "gen-schemas: flatc not found (apt-get install -y flatbuffers-compiler)" >&2; exit 1; }
if [ "$(flatc --version)" != "$EXPECTED_FLATC" ]; then
  echo "gen-schemas: expected '$EXPECTED_FLATC', found '$(flatc --version)'; the committed code came from $EXPECTED_FLATC" >&2
  exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# One flat TypeScript file per schema (<name>_generated.ts), importing only the 'flatbuffers' package, so it is
# valid ESM under module NodeNext as emitted: no post-processing of the code is needed with flatc 2.0.8.
flatc --ts --ts-flat-files -o "$TMP" "$ROOT"/schemas/*.fbs

cat > "$TMP/README.md" <<'README'
# Generated code: do not edit

Everything in this folder is written by `npm run gen:schemas` (scripts/gen-schemas.sh, flatc 2.0.8) from
`schemas/*.fbs`. Change the schema and regenerate; `test/feed-generated.test.ts` fails when this folder and the
schema disagree. The hand-written codec that uses it is `src/feed/codec.ts`.
README

mkdir -p "$OUT"
# Replace the output folder's contents exactly (a schema removed is a file removed).
find "$OUT" -mindepth 1 -maxdepth 1 \( -name '*.ts' -o -name 'README.md' \) -delete
cp "$TMP"/* "$OUT"/
echo "gen-schemas: wrote $(cd "$TMP" && ls | tr '\n' ' ')to ${OUT#$ROOT/}"
