#!/usr/bin/env bash
# Bioconda build script for crest (see meta.yaml). Also runnable by hand:
#   PREFIX=/tmp/crest-prefix bash packaging/bioconda/crest/build.sh
set -euo pipefail
cd "${SRC_DIR:-$(dirname "$0")/../../..}"
# licences of every dependency, as Bioconda asks for Rust packages
if command -v cargo-bundle-licenses >/dev/null; then
  cargo-bundle-licenses --format yaml --output THIRDPARTY.yml
fi
cargo install --no-track --locked --root "$PREFIX" --path .
"$PREFIX/bin/crest" --version
