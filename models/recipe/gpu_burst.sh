#!/usr/bin/env bash
# A GPU burst (issue 19): the pack's wheels where the machine lacks them, then
# gpu_burst.py with every argument. The README's "GPU burst" section has the
# command to paste.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pack="$here/pack"
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
    [[ "${args[i]}" == --pack ]] && pack="${args[i + 1]}"
done
if ! python3 -c "import soundfile" 2>/dev/null; then
    site="$(mktemp -d)"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$pack"/wheels/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec python3 "$here/gpu_burst.py" "$@"
