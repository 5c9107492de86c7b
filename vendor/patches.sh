#!/usr/bin/env bash
# Vendored crates as pristine upstream plus a patch series (vendor/README.md).
#
# Each vendor/CRATE/ holds the tree cargo builds ([patch.crates-io] in Cargo.toml) and, beside
# it, what that tree is made from:
#   upstream/NAME-VERSION.crate         the archive exactly as crates.io serves it
#   upstream/NAME-VERSION.crate.sha256  its sha256 (sha256sum format), checked before any use
#   upstream/keep                       the archive's paths kept (everything else is pruned)
#   patches/NNNN-NAME.patch             applied in order with `git apply`; NAME from its Patch-Name: trailer
#   README.quicksilver.md               what the patches do and how to upgrade
#
# Usage: vendor/patches.sh COMMAND [CRATE...]   (CRATE: a directory name under vendor/; all if none)
#   check           fail unless every vendored tree equals upstream + prune + patches (CI runs this)
#   apply           regenerate the vendored trees from upstream + prune + patches
#   edit CRATE DIR  make DIR a git repository: one commit of pruned upstream (tagged `upstream`),
#                   then one commit per patch; change, add or reorder commits there, then `import`
#   import CRATE DIR  replace CRATE's patches with DIR's commits since `upstream`, then `apply`
#   fetch CRATE VERSION  replace CRATE's archive by VERSION's, fetched by cargo (for an upgrade)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/vendor"
# The files of vendor/CRATE/ that are not part of the tree cargo builds.
own=(README.quicksilver.md upstream patches)
# Every scratch directory lives here and goes when the script ends, however it ends.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

die() {
  echo "vendor/patches.sh: $*" >&2
  exit 1
}

# A fixed identity and date, so that `edit` and `import` give the same bytes on every machine.
git_fixed() {
  GIT_AUTHOR_NAME=Quicksilver GIT_AUTHOR_EMAIL=quicksilver@invalid \
    GIT_COMMITTER_NAME=Quicksilver GIT_COMMITTER_EMAIL=quicksilver@invalid \
    GIT_AUTHOR_DATE='2000-01-01T00:00:00Z' GIT_COMMITTER_DATE='2000-01-01T00:00:00Z' \
    git -c core.autocrlf=false -c commit.gpgsign=false "$@"
}

crates() {
  if [ $# -gt 0 ]; then
    printf '%s\n' "$@"
  else
    for dir in "$vendor"/*/upstream; do basename "$(dirname "$dir")"; done
  fi
}

# The one archive of a crate, as NAME-VERSION.crate.
archive_of() {
  local crate=$1 found
  found=("$vendor/$crate"/upstream/*.crate)
  [ ${#found[@]} -eq 1 ] && [ -f "${found[0]}" ] ||
    die "vendor/$crate/upstream must hold exactly one .crate archive"
  echo "${found[0]}"
}

# Verifies the archive against its recorded sha256, and that the workspace pins that version.
verify_archive() {
  local crate=$1 archive base version
  archive=$(archive_of "$crate")
  base=$(basename "$archive" .crate)
  version=${base#"$crate"-}
  (cd "$vendor/$crate/upstream" && sha256sum --quiet --strict -c "$base.crate.sha256") ||
    die "vendor/$crate/upstream/$base.crate does not match its recorded sha256"
  grep -Eq "^$crate = (\"=$version\"|\{ *version = \"=$version\")" "$root/Cargo.toml" ||
    die "Cargo.toml must pin $crate to exactly \"=$version\" (the vendored upstream)"
}

# Unpacks the verified archive of CRATE and keeps only the paths upstream/keep lists (the prune
# step) in the empty directory OUT.
build_pruned() {
  local crate=$1 out=$2 archive base unpack keep
  verify_archive "$crate"
  archive=$(archive_of "$crate")
  base=$(basename "$archive" .crate)
  unpack=$(mktemp -d -p "$scratch")
  tar -xzf "$archive" -C "$unpack"
  [ -d "$unpack/$base" ] || die "$base.crate does not unpack into $base/"
  while read -r keep; do
    case "$keep" in '' | '#'*) continue ;; esac
    [ -e "$unpack/$base/$keep" ] || die "vendor/$crate/upstream/keep lists $keep, absent from $base.crate"
    cp -R "$unpack/$base/$keep" "$out/"
  done <"$vendor/$crate/upstream/keep"
  rm -rf "$unpack"
}

# Builds upstream + prune + patches of CRATE into the empty directory OUT.
build_tree() {
  local crate=$1 out=$2 patch
  build_pruned "$crate" "$out"
  for patch in "$vendor/$crate"/patches/*.patch; do
    [ -f "$patch" ] || continue
    # The ceiling keeps git from finding an enclosing repository: the paths are OUT's.
    (cd "$out" && GIT_CEILING_DIRECTORIES="$(dirname "$out")" \
      git apply --whitespace=nowarn -p1 "$patch") ||
      die "vendor/$crate/patches/$(basename "$patch") does not apply (see vendor/README.md, upgrading)"
  done
}

# The top-level entries of vendor/CRATE/ that belong to the tree cargo builds, one a line.
vendored_entries() {
  local crate=$1 entry
  for entry in "$vendor/$crate"/* "$vendor/$crate"/.[!.]*; do
    [ -e "$entry" ] || continue
    [[ " ${own[*]} " == *" $(basename "$entry") "* ]] && continue
    echo "$entry"
  done
}

check() {
  local crate=$1 work entry status=0
  work=$(mktemp -d -p "$scratch")
  mkdir "$work/expected" "$work/vendored"
  build_tree "$crate" "$work/expected"
  vendored_entries "$crate" | while read -r entry; do cp -R "$entry" "$work/vendored/"; done
  if ! (cd "$work" && diff -ru expected vendored >diff); then
    {
      echo "FAILED: vendor/$crate differs from its upstream archive plus vendor/$crate/patches."
      echo "Every change to a vendored crate must be a patch: see vendor/README.md."
      echo "Difference (expected = upstream + patches, vendored = the tree cargo builds):"
      head -n 200 "$work/diff"
    } >&2
    status=1
  else
    echo "vendor/$crate: upstream $(basename "$(archive_of "$crate")") + $(find "$vendor/$crate/patches" -name '*.patch' | wc -l) patches, as vendored"
  fi
  rm -rf "$work"
  return $status
}

apply() {
  local crate=$1 work
  work=$(mktemp -d -p "$scratch")
  build_tree "$crate" "$work"
  vendored_entries "$crate" | while read -r entry; do rm -rf "$entry"; done
  cp -R "$work"/. "$vendor/$crate/"
  rm -rf "$work"
  echo "vendor/$crate: regenerated"
}

edit() {
  local crate=$1 dir=$2 patch
  [ ! -e "$dir" ] || die "$dir already exists"
  mkdir -p "$dir"
  build_pruned "$crate" "$dir"
  git_fixed -C "$dir" init -q
  git_fixed -C "$dir" add -A
  git_fixed -C "$dir" commit -q -m "upstream $(basename "$(archive_of "$crate")" .crate), pruned"
  git_fixed -C "$dir" tag upstream
  for patch in "$vendor/$crate"/patches/*.patch; do
    [ -f "$patch" ] || continue
    git_fixed -C "$dir" am -q --committer-date-is-author-date "$patch" ||
      die "$(basename "$patch") does not apply: resolve in $dir (git am --show-current-patch, fix, git add, git am --continue), then import"
  done
  echo "$dir: upstream + $(git -C "$dir" rev-list --count upstream..HEAD) patches as commits"
}

# Writes DIR's commits since `upstream` as CRATE's patches, NNNN-NAME.patch with NAME from each
# commit's `Patch-Name:` trailer, then regenerates the tree.
import() {
  local crate=$1 dir=$2 number=0 commit name
  git -C "$dir" rev-parse -q --verify upstream >/dev/null || die "$dir has no \`upstream\` tag (made by edit)"
  rm -f "$vendor/$crate"/patches/*.patch
  mkdir -p "$vendor/$crate/patches"
  for commit in $(git -C "$dir" rev-list --reverse upstream..HEAD); do
    number=$((number + 1))
    name=$(git -C "$dir" log -1 --format='%(trailers:key=Patch-Name,valueonly)' "$commit" | head -n 1)
    [ -n "$name" ] || die "commit $commit in $dir has no 'Patch-Name: short-name' trailer"
    git_fixed -C "$dir" format-patch --stdout -1 --zero-commit --no-signature "$commit" \
      >"$vendor/$crate/patches/$(printf '%04d' "$number")-$name.patch"
  done
  apply "$crate"
}

fetch() {
  local crate=$1 version=$2 work archive checksum old
  work=$(mktemp -d -p "$scratch")
  mkdir "$work/src"
  printf '[package]\nname = "vendor-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = { version = "=%s", default-features = false }\n' \
    "$crate" "$version" >"$work/Cargo.toml"
  : >"$work/src/lib.rs"
  (cd "$work" && cargo fetch -q)
  archive=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate" | head -n 1)
  [ -f "$archive" ] || die "cargo fetched no $crate-$version.crate"
  # The registry index's checksum, as cargo recorded it in the lock file.
  checksum=$(grep -A3 "^name = \"$crate\"\$" "$work/Cargo.lock" | grep -A2 "^version = \"$version\"\$" |
    sed -n 's/^checksum = "\(.*\)"$/\1/p')
  [ "$(sha256sum <"$archive" | cut -d' ' -f1)" = "$checksum" ] ||
    die "$crate-$version.crate does not match the registry's checksum"
  for old in "$vendor/$crate"/upstream/*.crate "$vendor/$crate"/upstream/*.crate.sha256; do
    rm -f "$old"
  done
  cp "$archive" "$vendor/$crate/upstream/"
  (cd "$vendor/$crate/upstream" && sha256sum "$crate-$version.crate" >"$crate-$version.crate.sha256")
  rm -rf "$work"
  echo "vendor/$crate/upstream: $crate-$version.crate ($checksum); now pin \"=$version\" in Cargo.toml"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  check)
    failed=0
    for crate in $(crates "$@"); do check "$crate" || failed=1; done
    exit $failed
    ;;
  apply)
    for crate in $(crates "$@"); do apply "$crate"; done
    ;;
  edit)
    [ $# -eq 2 ] || die "usage: edit CRATE DIR"
    edit "$1" "$2"
    ;;
  import)
    [ $# -eq 2 ] || die "usage: import CRATE DIR"
    import "$1" "$2"
    ;;
  fetch)
    [ $# -eq 2 ] || die "usage: fetch CRATE VERSION"
    fetch "$1" "$2"
    ;;
  *)
    # The usage is the header comment.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    [ -z "$command" ] || exit 2
    ;;
esac
