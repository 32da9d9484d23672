#!/usr/bin/env bash
# Prints the URI of the Debian archive this machine's apt uses for release $1 with the `main`
# component, read from /etc/apt/sources.list (one-line format) and sources.list.d/*.list|*.sources
# (deb822), the way twoliter's SDK recipe reads it. Exits 1 when there is none.
set -euo pipefail
release="$1"
etc="${APT_ETC:-/etc/apt}"
shopt -s nullglob
for file in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
  [[ -f "$file" ]] || continue
  uri="$(awk -v rel="$release" '
    { sub(/#.*/, "") }
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      uri = $i; suite = $(i + 1)
      for (j = i + 2; j <= NF; j++) if (suite == rel && $j == "main" && uri ~ /^http/) { print uri; exit }
    }' "$file")"
  if [[ -n "$uri" ]]; then echo "${uri%/}"; exit 0; fi
done
for file in "$etc"/sources.list.d/*.sources; do
  uri="$(awk -v rel="$release" '
    function flush() {
      if (deb && main && has && uri ~ /^http/) { print uri; found = 1; exit }
      deb = main = has = 0; uri = ""
    }
    /^[[:space:]]*$/ { flush(); next }
    /^#/ { next }
    tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
    tolower($1) == "uris:" { uri = $2 }
    tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == rel) has = 1 }
    tolower($1) == "components:" { for (i = 2; i <= NF; i++) if ($i == "main") main = 1 }
    END { if (!found) flush() }' "$file")"
  if [[ -n "$uri" ]]; then echo "${uri%/}"; exit 0; fi
done
exit 1
