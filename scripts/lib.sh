# Shared by scripts/run and scripts/test: installs the Debian packages a step
# needs when they are missing, so both work on a fresh Debian 12 machine.

# Packages to build usher (design.md §2).
USHER_BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libasio-dev libssl-dev libnghttp2-dev libcpp-httplib-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
)

# Packages the tests add: the fuzzer toolchain, formatting check, real clients
# and the ACME test server.
USHER_TEST_PACKAGES=(
  clang-14 libclang-rt-14-dev clang-format
  curl openssl strace python3 python3-h2 pebble nghttp2-client
)

# Packages to build and check the Debian package (scripts/package): debhelper
# 13 with dh_installsysusers, lintian; systemd for systemd-analyze and
# systemd-sysusers / systemd-tmpfiles in the install test (not as PID 1);
# man-db: systemd-analyze verify checks the unit's Documentation=man:usher(1).
USHER_PACKAGE_PACKAGES=(debhelper dpkg-dev lintian systemd bash-completion man-db)

# The arm64 cross build (scripts/package-arm64, scripts/test-arm64): the cross
# compilers, qemu to run the tests, and the :arm64 libraries through
# multiarch. yaml-cpp's -dev package is not Multi-Arch, so the arm64 build
# takes the runtime library and the native headers
# (cmake/toolchain-aarch64.cmake).
USHER_ARM64_PACKAGES=(
  crossbuild-essential-arm64 qemu-user-static libasio-dev libyaml-cpp-dev
  libssl-dev:arm64 libnghttp2-dev:arm64 libcpp-httplib-dev:arm64
  libspdlog-dev:arm64 libfmt-dev:arm64 libyaml-cpp0.7:arm64 libgtest-dev:arm64 libgmock-dev:arm64
)

# ensure_packages PKG...: installs the packages that are not installed yet,
# with sudo when not running as root. Runs apt-get update once, only when
# something is missing (a fresh machine may have no package lists).
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  echo "installing missing Debian packages: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The number of parallel build jobs: every core, at least one.
build_jobs() {
  nproc 2>/dev/null || echo 1
}
