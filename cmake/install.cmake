# `cmake --install` of the client SDK (docs/sdk.md "Installed layout"): the
# C library (libsidewal, include/sidewal/sidewal.h), the C++ client
# (libsidewal-cpp, include/sidewal/client/client.h and the headers it
# includes), a CMake package (find_package(sidewal CONFIG): sidewal::client,
# sidewal::client_static, sidewal::sidewal_c, sidewal::sidewal_c_static) and
# pkg-config files (sidewal.pc, sidewal-cpp.pc). Every path in them is
# relative to where they are installed, so `cmake --install --prefix P`
# works for any P. Included by the top-level CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- The C++ client's headers, as installed. In the tree they include each
# other as "common/status.h" (src/ on the include path); installed under
# include/sidewal/ they must say "sidewal/common/status.h", or a user would
# need include/sidewal on the path, where generic names such as
# common/status.h would meet the user's own. So the installed copies are
# these headers with that prefix added, written to <build>/sdk-include
# (which the in-tree sidewal_cpp targets use too, so the tests compile what
# is installed). A header that includes another project header outside this
# list fails the configure: it would not be installed.
set(sdk_cpp_headers
  client/client.h common/mutex.h common/status.h common/thread_annotations.h proto/protocol.h)
set(sdk_include_dir ${CMAKE_BINARY_DIR}/sdk-include)
foreach(h ${sdk_cpp_headers})
  set(src ${CMAKE_SOURCE_DIR}/src/${h})
  set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(READ ${src} text)
  string(REGEX MATCHALL "#include \"[^\"]+\"" includes "${text}")
  foreach(inc ${includes})
    string(REGEX REPLACE "#include \"([^\"]+)\"" "\\1" inc "${inc}")
    if(NOT inc IN_LIST sdk_cpp_headers)
      message(FATAL_ERROR "src/${h} includes \"${inc}\", which is not an installed header "
                          "(cmake/install.cmake sdk_cpp_headers)")
    endif()
  endforeach()
  string(REGEX REPLACE "#include \"([^\"]+)\"" "#include \"sidewal/\\1\"" text "${text}")
  set(out ${sdk_include_dir}/sidewal/${h})
  set(old "")
  if(EXISTS ${out})
    file(READ ${out} old)
  endif()
  if(NOT old STREQUAL text)  # unchanged: keep its timestamp (no rebuilds)
    file(WRITE ${out} "${text}")
  endif()
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/include/sidewal/sidewal.h ${sdk_include_dir}/sidewal/sidewal.h
               COPYONLY)

install(DIRECTORY ${sdk_include_dir}/sidewal DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS sidewal_c sidewal_c_static sidewal_cpp sidewal_cpp_static
  EXPORT sidewalTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ---- CMake package.
set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sidewal)
install(EXPORT sidewalTargets NAMESPACE sidewal:: DESTINATION ${cmake_dir})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/sidewalConfig.cmake.in
  ${CMAKE_BINARY_DIR}/sdk/sidewalConfig.cmake INSTALL_DESTINATION ${cmake_dir})
# 0.x: a minor release may change the C++ API, so only the same minor matches.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/sidewalConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/sdk/sidewalConfig.cmake
              ${CMAKE_BINARY_DIR}/sdk/sidewalConfigVersion.cmake
        DESTINATION ${cmake_dir})

# ---- pkg-config. prefix is found from the .pc file's own directory.
file(RELATIVE_PATH pc_to_prefix ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
set(PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
foreach(pc sidewal sidewal-cpp)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/${pc}.pc.in ${CMAKE_BINARY_DIR}/sdk/${pc}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/sdk/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
