# libsecp256k1: which one, and how it is linked.
#
# Defines the INTERFACE target `signer_secp256k1` and these variables:
#   SIGNER_SECP256K1_VERSION  the version pkg-config reports for libsecp256k1, e.g. 0.7.1
#   SIGNER_SECP256K1_LINKAGE  "static" (its libsecp256k1.a, the default) or "shared"
#   SIGNER_SECP256K1_CURRENT  ON when the version is at least SIGNER_SECP256K1_MINIMUM_VERSION
#
# Linked statically from the libsecp256k1.a of the same pkg-config prefix, so the binary runs
# with exactly the library it was built against, whatever the machine or image it runs on has
# installed; the runtime image needs no libsecp256k1 package. When no static library is there,
# the shared one is linked and the version named is the one it was built against.
#
# The version is read on every configure (not cached), and the .pc file is a configure
# dependency, so installing another libsecp256k1 reconfigures and renames it.
#
# An older library still builds, but says so loudly: 0.7.1 (Debian unstable's, installed by
# scripts/install-secp256k1.sh) signs about 20% faster than bookworm's 0.2.0, whose sign path
# runs below go-ethereum's crypto.Sign (issue 21). tests/cmake checks a fake old version is
# reported, not accepted.
include_guard(GLOBAL)

set(SIGNER_SECP256K1_MINIMUM_VERSION 0.7.0)

# signer_check_secp256k1_version(VERSION OUT_VAR): sets OUT_VAR to ON when VERSION is at least
# SIGNER_SECP256K1_MINIMUM_VERSION; otherwise to OFF, with a warning no one can miss.
function(signer_check_secp256k1_version version out_var)
  if(version MATCHES "^[0-9]+(\\.[0-9]+)*$"
     AND NOT version VERSION_LESS SIGNER_SECP256K1_MINIMUM_VERSION)
    set(${out_var} ON PARENT_SCOPE)
    return()
  endif()
  set(bar "##########################################################################")
  message(WARNING
    "\n${bar}\n"
    "## OLD libsecp256k1: ${version} (wanted ${SIGNER_SECP256K1_MINIMUM_VERSION} or newer)\n"
    "## The build goes on, but bookworm's 0.2.0 signs about 20% slower than 0.7.1, and\n"
    "## slower than go-ethereum's crypto.Sign. `signer version`, GET / and signer_build_info\n"
    "## name this version, and bench/sign_vs_geth.py refuses to compare with go-ethereum.\n"
    "## Install 0.7.1 from Debian unstable: scripts/install-secp256k1.sh (as root).\n"
    "${bar}")
  set(${out_var} OFF PARENT_SCOPE)
endfunction()

find_package(PkgConfig REQUIRED)

# signer_pkg_config_secp256k1(OUT_VAR ARGS...): the output of pkg-config ARGS libsecp256k1, never cached.
function(signer_pkg_config_secp256k1 out_var)
  execute_process(
    COMMAND ${PKG_CONFIG_EXECUTABLE} ${ARGN} libsecp256k1
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    RESULT_VARIABLE rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} libsecp256k1 failed: ${err}"
                        "Install it: scripts/install-secp256k1.sh (as root)")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

signer_pkg_config_secp256k1(SIGNER_SECP256K1_VERSION --modversion)
signer_pkg_config_secp256k1(_secp256k1_libdir --variable=libdir)
signer_pkg_config_secp256k1(_secp256k1_includedir --variable=includedir)
signer_pkg_config_secp256k1(_secp256k1_pcdir --variable=pcfiledir)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${_secp256k1_pcdir}/libsecp256k1.pc")

add_library(signer_secp256k1 INTERFACE)
target_include_directories(signer_secp256k1 SYSTEM INTERFACE "${_secp256k1_includedir}")
if(EXISTS "${_secp256k1_libdir}/libsecp256k1.a")
  set(SIGNER_SECP256K1_LINKAGE static)
  target_link_libraries(signer_secp256k1 INTERFACE "${_secp256k1_libdir}/libsecp256k1.a")
  set(_secp256k1_file "${_secp256k1_libdir}/libsecp256k1.a")
else()
  set(SIGNER_SECP256K1_LINKAGE shared)
  target_link_directories(signer_secp256k1 INTERFACE "${_secp256k1_libdir}")
  target_link_libraries(signer_secp256k1 INTERFACE secp256k1)
  set(_secp256k1_file "${_secp256k1_libdir}/libsecp256k1.so")
endif()

signer_check_secp256k1_version("${SIGNER_SECP256K1_VERSION}" SIGNER_SECP256K1_CURRENT)

# signer_secp256k1_library_source(SOURCE): compiles SOURCE (src/crypto/secp256k1_library.cpp)
# with what was found above. Only that file knows the version, so another libsecp256k1
# recompiles one file. Call it from the directory whose target compiles SOURCE.
function(signer_secp256k1_library_source source)
  if(SIGNER_SECP256K1_CURRENT)
    set(current 1)
  else()
    set(current 0)
  endif()
  set_source_files_properties("${source}" PROPERTIES COMPILE_DEFINITIONS
    "SIGNER_SECP256K1_VERSION=\"${SIGNER_SECP256K1_VERSION}\";SIGNER_SECP256K1_LINKAGE=\"${SIGNER_SECP256K1_LINKAGE}\";SIGNER_SECP256K1_MINIMUM_VERSION=\"${SIGNER_SECP256K1_MINIMUM_VERSION}\";SIGNER_SECP256K1_CURRENT=${current}")
endfunction()
message(STATUS "libsecp256k1 ${SIGNER_SECP256K1_VERSION}, ${SIGNER_SECP256K1_LINKAGE} "
               "(${_secp256k1_file})")
