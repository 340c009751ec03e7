#!/bin/sh
# Writes the activation-profiling calibration text: Ambrose Bierce's "The Devil's
# Dictionary" (1911, public domain, copyright expired), from the Debian package
# dict-devil (/usr/share/dictd/devil.dict.dz, a gzip-compatible dictzip file).
# It is English prose, free to redistribute, and distinct from the perplexity
# evaluation text (the licence texts of tools/make_eval_text.sh). The text is
# not copied into the repository: this script assembles it (docs: data/README.md).
# Kept: the preface and every entry; dropped: dictfmt's header entries
# (00-database-*) and its trailing character list.
#
#   tools/make_calibration_text.sh [OUT]   (default OUT: build/eval/devils_dictionary.txt)
#   actinfer profile -f build/eval/devils_dictionary.txt -o build/eval/profile.gguf
set -eu
src=${DEVIL_DICT:-/usr/share/dictd/devil.dict.dz}
out=${1:-build/eval/devils_dictionary.txt}
if [ ! -f "$src" ]; then
  # Not installed: fetch the package file from Debian and unpack it privately
  # (installing it would pull in the dictd server, which nothing here needs).
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q dict-devil >/dev/null) ||
    { echo "make_calibration_text.sh: $src not found and 'apt-get download dict-devil' failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/dict-devil_*.deb "$tmp/x"
  src="$tmp/x/usr/share/dictd/devil.dict.dz"
fi
mkdir -p "$(dirname "$out")"
gzip -dc "$src" | awk '/^ *PREFACE *$/ { on = 1 } on && !/^ abcdefghijklmnopqrstuvwxyz$/' > "$out.tmp"
[ -s "$out.tmp" ] || { echo "make_calibration_text.sh: no text found in $src" >&2; rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
sum=$(sha256sum "$out" | cut -d' ' -f1)
echo "wrote $out: $(wc -c < "$out") bytes, sha256 $sum"
# The text the figures in data/README.md were measured on (dict-devil 1.0-13.1, Debian bookworm).
expected=b9017ed55f0ba6291dce9c949e47195ff84c0173a77282647665b3a252fc8b69
[ "$sum" = "$expected" ] || echo "make_calibration_text.sh: warning: not the text of data/README.md (sha256 $expected); its profile figures do not apply" >&2
