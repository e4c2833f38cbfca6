# Cross-compiles usher for arm64 (Raspberry Pi 3, 4, 5, Zero 2 W on a 64-bit
# OS) on an amd64 Debian 12 machine with multiarch: the compilers come from
# crossbuild-essential-arm64 and the libraries from the :arm64 -dev packages,
# installed into the same / as the native ones (no separate sysroot).
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
# scripts/package-arm64 and scripts/test-arm64 install what this needs.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Multiarch: libraries live in /usr/lib/aarch64-linux-gnu beside the native
# ones, so the sysroot is / and the library architecture picks the right
# directory for find_library, find_package and FindOpenSSL.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(PKG_CONFIG_EXECUTABLE /usr/bin/aarch64-linux-gnu-pkg-config CACHE FILEPATH "pkg-config for arm64")

# Programs built for arm64 run under qemu: gtest_discover_tests lists the
# tests of each executable at build time, and ctest runs them, through this.
find_program(USHER_QEMU_AARCH64 qemu-aarch64-static)
if(USHER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${USHER_QEMU_AARCH64})
endif()

# yaml-cpp's -dev package is not Multi-Arch: libyaml-cpp-dev:arm64 cannot be
# installed beside the native one. Its headers are the same on every
# architecture, so the build uses the native headers and the arm64 runtime
# library (libyaml-cpp0.7:arm64) through a two-line package config of ours
# (docs/decisions/0010-debian-package.md).
set(yaml-cpp_DIR ${CMAKE_CURRENT_LIST_DIR}/aarch64-yaml-cpp CACHE PATH "yaml-cpp for arm64")
