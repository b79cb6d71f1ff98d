#!/usr/bin/env bash
# Regenerate examples/NAME for every bundled blueprint, and for the examples' own blueprints
# (examples/NAME.yaml: everything_on, every training feature that can coexist), from this
# checkout's template (run after changing templates/ or blueprints/, commit the template first so
# the examples record its commit; CI checks them with `scaffold check examples/NAME --template .`).
set -euo pipefail
cd "$(dirname "$0")/.."
for blueprint in blueprints/*.yaml examples/*.yaml; do
    name=$(basename "$blueprint" .yaml)
    rm -rf "examples/$name"
    scaffold new --blueprint "$blueprint" "examples/$name" --name "$name" --no-git > /dev/null
    echo "examples/$name"
done
