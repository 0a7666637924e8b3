# bench/common.sh: what close.sh and interactive.sh share. Sourced from the
# top of the tree.

# The commit a benchmark measures, as its results file names it: the short
# hash, plus a warning when the sources of the build differ from it.
bench_commit() {
  local c
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ "$c" != unknown ] &&
     [ -n "$(git status --porcelain -- core plugins include tools CMakeLists.txt 2>/dev/null)" ]; then
    c="$c with uncommitted changes to the build"
  fi
  echo "$c"
}
