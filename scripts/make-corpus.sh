#!/usr/bin/env bash
# make-corpus.sh OUT — the calibration and training text of RTX's measurements:
# the non-GPL license texts every Debian machine carries. GPL-3 is the
# perplexity text, and GPL-1/2, the LGPLs and GFDL-1.3 (its relicensing section)
# share whole sentences with it, so none of them is ever calibrated or trained on
# (the trainer refuses any file that shares a 200-character normalized run with
# the evaluation text, and passes this one).
set -euo pipefail
out=${1:?usage: make-corpus.sh OUT}
dir=/usr/share/common-licenses
mkdir -p "$(dirname "$out")"
cat "$dir/Apache-2.0" "$dir/MPL-2.0" "$dir/MPL-1.1" "$dir/GFDL-1.2" "$dir/Artistic" "$dir/CC0-1.0" "$dir/BSD" > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out: $(wc -c < "$out") bytes"
