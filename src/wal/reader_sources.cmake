# The read side (owned by the readers part): sequential O_DIRECT reader,
# headers-only mode, in-memory tail window, mmap catch-up reader, replay
# helpers. src/wal/CMakeLists.txt compiles ${SIDEWAL_READER_SOURCES} into
# sidewal_wal.
set(SIDEWAL_READER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/sequential_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/mmap_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/replay.cc
  ${CMAKE_CURRENT_LIST_DIR}/tail_window.cc
)
