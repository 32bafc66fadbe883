# The IoBackend implementations (owned by the io part). src/wal/CMakeLists.txt
# includes this file and compiles ${SIDEWAL_IO_SOURCES} into sidewal_wal.
set(SIDEWAL_IO_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/io_posix.cc
  ${CMAKE_CURRENT_LIST_DIR}/io_pwrite.cc
  ${CMAKE_CURRENT_LIST_DIR}/io_uring_backend.cc
  ${CMAKE_CURRENT_LIST_DIR}/make_backend.cc
  ${CMAKE_CURRENT_LIST_DIR}/sim_disk.cc
)
