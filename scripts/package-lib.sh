# shellcheck shell=bash
# Shared by scripts/package and scripts/package-arm64: builds the Debian
# package of the working tree with debhelper (docs/decisions/0010-debian-package.md).

# The version from CMakeLists.txt's project() line: the one source of truth.
# debian/changelog must name the same version; build_package refuses to build
# when they differ, instead of shipping a package whose name lies.
project_version() {
  sed -n 's/^project(usher VERSION \([0-9][0-9.]*\) .*/\1/p' CMakeLists.txt
}

changelog_version() {
  dpkg-parsechangelog -l packaging/debian/changelog -S Version
}

check_versions() {
  local project changelog
  project=$(project_version)
  changelog=$(changelog_version)
  if [ -z "$project" ]; then
    echo "cannot read the version from CMakeLists.txt's project() line" >&2
    return 1
  fi
  if [ "$project" != "$changelog" ]; then
    echo "version mismatch: CMakeLists.txt says $project, packaging/debian/changelog says $changelog;" >&2
    echo "add a changelog entry for $project (dch -v $project, or by hand) before packaging" >&2
    return 1
  fi
}

# stage_source DIR: a copy of the source tree (tracked and new files, not the
# ignored build directories) with packaging/debian as debian/ and the unit,
# sysusers and tmpfiles files where debhelper looks for them.
stage_source() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
      tar --null -T - -cf - | tar -xf - -C "$dir"
  else
    tar --exclude='./build*' --exclude='./.git' -cf - . | tar -xf - -C "$dir"
  fi
  cp -a packaging/debian "$dir/debian"
  cp packaging/usher.service "$dir/debian/usher.service"
  cp packaging/usher.sysusers "$dir/debian/usher.sysusers"
  cp packaging/usher.tmpfiles "$dir/debian/usher.tmpfiles"
}

# build_package ARCH [DPKG-BUILDPACKAGE ARGS...]: builds the package into
# build/package/ and prints the .deb's path on the last line.
build_package() {
  local arch=$1
  shift
  check_versions
  local version stage out
  version=$(project_version)
  out=$PWD/build/package
  stage=$out/$arch/usher-$version
  stage_source "$stage"
  echo "== dpkg-buildpackage ($arch) in $stage" >&2
  (cd "$stage" && DEB_BUILD_OPTIONS="parallel=$(build_jobs) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc "$@") >"$out/$arch/build.log" 2>&1 || {
    tail -40 "$out/$arch/build.log" >&2
    echo "the package build failed; the whole log is $out/$arch/build.log" >&2
    return 1
  }
  local deb=usher_${version}_${arch}.deb
  cp "$out/$arch/$deb" "$out/$deb"
  # Errors fail the build; the warnings and notes that remain are justified
  # in docs/decisions/0010-debian-package.md.
  echo "== lintian $deb" >&2
  lintian --fail-on error --info "$out/$deb" >&2 || {
    echo "lintian found errors in $deb" >&2
    return 1
  }
  echo "built $out/$deb ($(du -k "$out/$deb" | cut -f1) KiB)" >&2
  echo "$out/$deb"
}

# ensure_arm64: the arm64 architecture in dpkg (multiarch) and the cross
# toolchain, qemu and :arm64 libraries. apt-get update runs when the
# architecture is new, so that the :arm64 package lists exist.
ensure_arm64() {
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "adding the arm64 architecture to dpkg (multiarch)" >&2
    "${sudo[@]}" dpkg --add-architecture arm64
    "${sudo[@]}" apt-get update -q
  fi
  ensure_packages "${USHER_BUILD_PACKAGES[@]}" "${USHER_ARM64_PACKAGES[@]}"
}
