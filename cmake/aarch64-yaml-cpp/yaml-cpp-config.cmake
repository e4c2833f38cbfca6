# yaml-cpp for the arm64 cross build (cmake/toolchain-aarch64.cmake): the
# native package's headers with the arm64 runtime library, since
# libyaml-cpp-dev does not co-install across architectures.
set(_usher_yaml_cpp_library /usr/lib/aarch64-linux-gnu/libyaml-cpp.so.0.7)
if(NOT EXISTS ${_usher_yaml_cpp_library} OR NOT EXISTS /usr/include/yaml-cpp/yaml.h)
  set(yaml-cpp_FOUND FALSE)
  set(yaml-cpp_NOT_FOUND_MESSAGE
      "needs libyaml-cpp0.7:arm64 (the library) and libyaml-cpp-dev (the headers): run scripts/package-arm64, which installs both")
  return()
endif()
if(NOT TARGET yaml-cpp)
  add_library(yaml-cpp SHARED IMPORTED)
  set_target_properties(yaml-cpp PROPERTIES
    IMPORTED_LOCATION ${_usher_yaml_cpp_library}
    IMPORTED_SONAME libyaml-cpp.so.0.7)
endif()
set(yaml-cpp_FOUND TRUE)
set(yaml-cpp_VERSION 0.7.0)
