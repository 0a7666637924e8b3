#!/usr/bin/env bash
# test_docs.sh: the documentation's examples, run as written.
#
# A fenced block in README.md or docs/*.md is run when the line right
# before its opening fence is one of these HTML comments (invisible when
# the Markdown is rendered):
#
#   <!-- doc-test: file NAME -->     write the block to NAME
#   <!-- doc-test: excerpt PATH -->  the block appears verbatim in PATH, a
#                                    file of the source tree
#   <!-- doc-test: run -->           run the block; its output is not shown
#                                    or not reproducible, so it is not compared
#   <!-- doc-test: output -->        run each `$ COMMAND` line and compare
#                                    what it prints (stdout, then stderr)
#                                    with the lines shown up to the next `$ `
#
# `run` and `output` take `exit=N`: the block's last command must exit N
# (every other command, 0). A block without `$ ` lines is one shell script.
#
# Each document runs in a directory of its own, from a copy of the source
# tree's top level whose build/ is the build under test, in one bash
# process, so cd and export carry over from block to block. The
# environment stands in for an installation under /usr/local: payrun is
# installed into a temporary prefix, `payrun` on PATH is the binary under
# test, and CMAKE_PREFIX_PATH, PKG_CONFIG_PATH and PAYRUN_PLUGIN_PATH point
# at that prefix (cmake, pkg-config and payrun look in /usr/local by
# themselves). HOME is a fresh directory and PAYRUN_CLOCK is
# 2026-04-01T09:00:00Z, as the documents say.
#
# Before comparing, the output is made as a reader would see it: the
# current directory is dropped from paths, HOME is written ~, and the
# temporary prefix's plugin directory /usr/local/lib/payrun/plugins.
# Trailing blanks (and the CR of CRLF line ends) are ignored.
#
# DOC=docs/plugins.md runs one document; KEEP_TMP=1 keeps the directories.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?BUILD must name the build tree}"

prefix="$T/prefix"
run cmake --install "$BUILD" --prefix "$prefix"
expect_rc 0 "cmake --install into a temporary prefix"
plugdir="$prefix/lib/payrun/plugins"
[ -f "$plugdir/export_csv.so" ] && ok || fail "plugins installed in $plugdir"

# extract DOC: the bash script that runs DOC's marked blocks
extract() {
  awk -v doc="$1" '
    function die(msg) { print doc ":" NR ": " msg > "/dev/stderr"; bad = 1; exit 1 }
    function emit_cmd(text, want, at) {
      printf "doc_at %s:%d\ndoc_cmd %d <<'"'"'__DOC_EOF__'"'"'\n%s\n__DOC_EOF__\n", doc, at, want, text
    }
    function flush(   i, n, cmd, at, outp, first, dollar, last, want) {
      if (kind == "file") {
        printf "doc_at %s:%d\ndoc_file %s <<'"'"'__DOC_EOF__'"'"'\n", doc, start, arg
        for (i = 1; i <= nl; i++) print body[i]
        print "__DOC_EOF__"
        return
      }
      if (kind == "excerpt") {
        printf "doc_at %s:%d\ndoc_excerpt %s <<'"'"'__DOC_EOF__'"'"'\n", doc, start, arg
        for (i = 1; i <= nl; i++) print body[i]
        print "__DOC_EOF__"
        return
      }
      dollar = 0
      for (i = 1; i <= nl; i++) if (body[i] ~ /^\$ /) { dollar = 1; last = i }
      if (!dollar) {                     # one script
        if (kind == "output") die("an output block needs $ lines")
        cmd = ""
        for (i = 1; i <= nl; i++) cmd = cmd (i > 1 ? "\n" : "") body[i]
        emit_cmd(cmd, code, start + 1)
        print "doc_ignore"
        return
      }
      for (i = 1; i <= nl; i++) {
        if (body[i] !~ /^\$ /) {
          if (i == 1) die("an output block starts with its first $ line")
          continue
        }
        cmd = substr(body[i], 3); at = start + i
        while (cmd ~ /\\$/ && i < nl) { i++; cmd = cmd "\n" body[i] }
        want = (i >= last) ? code : 0
        emit_cmd(cmd, want, at)
        if (kind == "run") { print "doc_ignore"; continue }
        printf "doc_expect <<'"'"'__DOC_EOF__'"'"'\n"
        while (i < nl && body[i + 1] !~ /^\$ /) { i++; print body[i] }
        print "__DOC_EOF__"
      }
    }
    inblock && $0 ~ "^" indent "```" { flush(); inblock = 0; next }
    inblock { line = $0; sub("^" indent, "", line); body[++nl] = line; next }
    pending && /^ *```/ {
      indent = $0; sub(/```.*/, "", indent)
      inblock = 1; pending = 0; nl = 0; start = NR; next
    }
    pending { die("a doc-test comment must come right before a fenced block") }
    /^ *<!-- doc-test: .* -->$/ {
      spec = $0; sub(/^ *<!-- doc-test: /, "", spec); sub(/ -->$/, "", spec)
      n = split(spec, w, " "); kind = w[1]; arg = ""; code = 0
      for (i = 2; i <= n; i++) if (w[i] ~ /^exit=[0-9]+$/) code = substr(w[i], 6); else arg = w[i]
      if (kind !~ /^(file|excerpt|run|output)$/) die("unknown doc-test kind \"" kind "\"")
      if ((kind == "file" || kind == "excerpt") && arg == "") die(kind " needs a name")
      pending = 1; next
    }
    END { if (!bad && (inblock || pending)) die("the file ends inside a doc-test block") }
  ' "$SRC/$1"
}

# The functions the extracted script calls; they run in its shell.
cat >"$T/doc_lib.sh" <<'LIB'
doc_at() { at=$1; }
doc_fail() { echo "FAIL: $at: $*" >&2; doc_failed=$((doc_failed + 1)); }
doc_file() { mkdir -p "$(dirname "$1")"; cat >"$1"; doc_checks=$((doc_checks + 1)); }
doc_excerpt() {
  local want have
  want=$(cat)
  have=$(cat "$DOC_SRC/$1")
  case "$have" in
    *"$want"*) doc_checks=$((doc_checks + 1)) ;;
    *) doc_fail "this block is not in $1 as shown" ;;
  esac
}
doc_cmd() { # doc_cmd EXIT <<< COMMAND: run it here, in this shell
  local want=$1 cmd
  cmd=$(cat)
  doc_last=$cmd
  set +e
  eval "$cmd" </dev/null >"$DOC_TMP/out" 2>"$DOC_TMP/err"
  doc_rc=$?
  set -e
  doc_checks=$((doc_checks + 1))
  if [ "$doc_rc" -ne "$want" ]; then
    doc_fail "\"$cmd\" exited $doc_rc, expected $want"
    sed 's/^/  stdout: /' "$DOC_TMP/out" >&2
    sed 's/^/  stderr: /' "$DOC_TMP/err" >&2
  fi
}
doc_ignore() { :; }
doc_normal() { # what a reader would see: see the comment at the top
  local here=$PWD
  cat "$DOC_TMP/out" "$DOC_TMP/err" |
    awk -v here="$here/" -v home="$HOME" -v plug="$DOC_PLUGDIR" '
      function repl(s, from, to,   i, r) {
        r = ""
        while ((i = index(s, from)) > 0) { r = r substr(s, 1, i - 1) to; s = substr(s, i + length(from)) }
        return r s
      }
      { $0 = repl($0, here, ""); $0 = repl($0, plug, "/usr/local/lib/payrun/plugins");
        $0 = repl($0, home, "~"); sub(/[ \t\r]+$/, ""); print }'
}
doc_expect() {
  sed 's/[ \t\r]*$//' >"$DOC_TMP/want"
  doc_normal >"$DOC_TMP/have"
  doc_checks=$((doc_checks + 1))
  if ! diff -u "$DOC_TMP/want" "$DOC_TMP/have" >"$DOC_TMP/diff"; then
    doc_fail "\"$doc_last\" printed something else (- shown, + printed):"
    tail -n +3 "$DOC_TMP/diff" >&2
  fi
}
LIB

docs=${DOC:-$(cd "$SRC" && grep -l '^ *<!-- doc-test: ' README.md docs/*.md)}
for doc in $docs; do
  name=$(basename "$doc" .md)
  W="$T/$name"
  mkdir -p "$W/home" "$W/bin" "$W/tmp" "$W/src"
  # a copy of the checkout's top level, with the build under test as build/
  for f in "$SRC"/*; do
    case "$(basename "$f")" in
      build|build-*|out|var) ;;
      include|docs|core|plugins|tests|tools|bench|cmake) ln -s "$f" "$W/src/" ;;
      *) cp -r "$f" "$W/src/" ;;
    esac
  done
  ln -s "$BUILD" "$W/src/build"
  printf '#!/bin/sh\nexec %q "$@"\n' "$PAYRUN" >"$W/bin/payrun"
  chmod +x "$W/bin/payrun"
  if ! extract "$doc" >"$W/doc.sh"; then
    rc=1; fail "$doc: its doc-test blocks cannot be read"; continue
  fi
  grep -q '^doc_' "$W/doc.sh" || { rc=1; fail "$doc: no doc-test block"; continue; }
  run env -u PAYRUN_CONFIG HOME="$W/home" PATH="$W/bin:$prefix/bin:$PATH" \
    CMAKE_PREFIX_PATH="$prefix" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    PAYRUN_PLUGIN_PATH="$plugdir" PAYRUN_CLOCK=2026-04-01T09:00:00Z \
    DOC_SRC="$SRC" DOC_TMP="$W/tmp" DOC_PLUGDIR="$plugdir" \
    bash -c 'set -e; cd "$1"; doc_checks=0; doc_failed=0; . "$2"; . "$3"
             echo "$doc_checks checks, $doc_failed failed"; [ "$doc_failed" -eq 0 ]' \
    doc "$W/src" "$T/doc_lib.sh" "$W/doc.sh"
  if [ "$rc" -eq 0 ]; then ok; echo "$doc: $out"; else fail "$doc: its examples do not run as shown"; fi
done

# Every command `payrun --help` lists is in the man page and in the
# README's list of commands.
readme_cmds=$(awk '/^## Commands/ { f = 1 } f && /^```/ { n++; next } f && n == 1' "$SRC/README.md")
man=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$SRC/docs/payrun.1")
run "$PAYRUN" --help
while read -r c; do
  [ -n "$c" ] || continue
  grep -qF -- "$c" <<<"$man" && ok || fail "docs/payrun.1 lacks the command \"$c\""
  grep -qF -- "$c" <<<"$readme_cmds" && ok || fail "README.md's commands lack \"$c\""
done < <(sed -n '/^commands:/,/^$/p' <<<"$out" | awk 'NR > 1 && NF { c = $1; if ($2 ~ /^[a-z][a-z-]*$/) c = c " " $2; print c }')

finish
