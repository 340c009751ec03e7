#!/bin/sh
# Writes the perplexity evaluation text: the license texts every Debian system
# ships in /usr/share/common-licenses (package base-files), concatenated in the
# order the reference engine's figure uses (docs: data/README.md). They are free
# to redistribute but not copied into the repository: this script assembles them.
#
#   tools/make_eval_text.sh [OUT]      (default OUT: build/eval/licenses.txt)
#   actinfer perplexity -f build/eval/licenses.txt
set -eu
dir=${COMMON_LICENSES:-/usr/share/common-licenses}
out=${1:-build/eval/licenses.txt}
files="GPL-3 GPL-2 LGPL-2.1 GFDL-1.3 MPL-2.0 Apache-2.0"
for f in $files; do
  [ -f "$dir/$f" ] || { echo "make_eval_text.sh: $dir/$f not found (Debian package base-files ships it)" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"
(cd "$dir" && cat $files) > "$out.tmp"
mv "$out.tmp" "$out"
sum=$(sha256sum "$out" | cut -d' ' -f1)
echo "wrote $out: $(wc -c < "$out") bytes, sha256 $sum"
# The text the figures in data/README.md were measured on (base-files of Debian bookworm).
expected=4b24c498226b2f773c8312f2a8a63b380ade2783903d3ad3f1e74dd49bf877b9
[ "$sum" = "$expected" ] || echo "make_eval_text.sh: warning: not the text of data/README.md (sha256 $expected); its perplexity figures do not apply" >&2
