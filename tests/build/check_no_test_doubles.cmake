# cmake -DNM=nm -DBINARIES="a;b" -P check_no_test_doubles.cmake
# Fails when a binary defines a symbol of a test double (SimDisk), or when it
# has no symbols at all to look at (a stripped binary would pass vacuously).
foreach(bin ${BINARIES})
  execute_process(COMMAND ${NM} --demangle --defined-only ${bin}
                  OUTPUT_VARIABLE symbols ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${bin} failed (${rc}): ${err}")
  endif()
  # The control: every one of them holds the engine (sidewal::wal)
  if(NOT symbols MATCHES "sidewal::wal::")
    message(FATAL_ERROR "${bin}: no sidewal::wal symbols; stripped? nothing to check")
  endif()
  string(REGEX MATCHALL "[^\n]*SimDisk[^\n]*" found "${symbols}")
  if(found)
    list(LENGTH found n)
    list(GET found 0 first)
    message(FATAL_ERROR "${bin} defines ${n} SimDisk symbols (test doubles belong in "
                        "src/testing, linked by tests only), e.g. ${first}")
  endif()
  message(STATUS "${bin}: no test doubles")
endforeach()
